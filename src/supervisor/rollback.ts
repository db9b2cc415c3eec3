// A staged start: each step that creates something registers how to undo it,
// so a failure at any later step leaves nothing behind (no orphan server, no
// cgroups, no claimed name). Undone in reverse order; an undo that fails is
// reported and the others still run.
export class Rollback {
  private readonly undos: { what: string; undo: () => void }[] = [];

  /** Registers the undo of a step that has just succeeded. */
  add(what: string, undo: () => void): void {
    this.undos.push({ what, undo });
  }

  /** Undoes every registered step, newest first; returns the ones that failed. */
  run(): { what: string; err: unknown }[] {
    const failed: { what: string; err: unknown }[] = [];
    for (const { what, undo } of this.undos.splice(0).reverse()) {
      try {
        undo();
      } catch (err) {
        failed.push({ what, err });
      }
    }
    return failed;
  }

  /** The start succeeded: from now on teardown, not rollback, owns what was created. */
  commit(): void {
    this.undos.length = 0;
  }
}
