// The logging seam every module takes: pino's call shape (fields first, then
// the message), so the CLI passes a pino logger and tests pass a recorder.
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
