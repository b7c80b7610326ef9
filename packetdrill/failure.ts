/*
 * How a script fails at run time: the event it was at and why, in lines a
 * person can act on (what the script expected, what the kernel did).
 */

/** Thrown by the runner and its shims; the runner adds the event's line and text. */
export class ScriptFailure extends Error {
  constructor(
    /** The first line of the report (what went wrong). */
    readonly reason: string,
    /** Further lines: expected / actual, decoded packets, hints. */
    readonly details: readonly string[] = [],
  ) {
    super(details.length ? `${reason}\n${details.join('\n')}` : reason);
    this.name = 'ScriptFailure';
  }
}

/** Something the runner cannot do for this script (a construct or a kernel feature it lacks). */
export class Unsupported extends ScriptFailure {
  constructor(reason: string, details: readonly string[] = []) {
    super(reason, details);
    this.name = 'Unsupported';
  }
}
