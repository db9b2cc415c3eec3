// Tests that need something this machine may lack (root, a tool, the other
// cgroup version) register as *skipped with their reason* when it is missing,
// never as passed; where the prerequisite is required (CI), as failed.
import test, { type Implementation } from 'ava';

type SerialTitle = string;
type SerialImpl = Implementation<[]>;

/** A serial test when `missing` is null; otherwise skipped with the reason (or failed if `required`). */
export function serialIf(missing: string | null, required = false): (title: SerialTitle, fn: SerialImpl) => void {
  return (title, fn) => {
    if (missing === null) test.serial(title, fn);
    else if (required) test.serial(title, (t) => t.fail(`cannot run here: ${missing}`));
    else test.serial.skip(`${title} [skipped: ${missing}]`, fn);
  };
}
