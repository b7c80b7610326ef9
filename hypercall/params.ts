/*
 * Bootstrap parameters, validated the way rumpkernel(7) documents them.
 *
 * The kernel reads three parameters through `Hypercall.getparam` at boot
 * (`rump_server -c`, `-v` and `-r` set the same three):
 *
 *   RUMP_NCPU      an integer >= 1, or `host` for the host's parallelism; unset -> 2.
 *                  It becomes hw.ncpu. An instance still runs on one event loop;
 *                  more cores means more instances.
 *   RUMP_VERBOSE   a first character other than `0` turns boot messages on.
 *   RUMP_MEMLIMIT  bytes, with at most one lower-case suffix k, m or g (x1024^n);
 *                  unset -> no limit.
 *
 * Anything else is a boot error naming the variable and the value, never a
 * silent default: a typo in a limit should not boot a kernel without one.
 */

import type { BootParams } from './types.js';

/** A bootstrap parameter that does not parse; the kernel refuses to boot. */
export class BootParamError extends Error {
  /** The variable, e.g. `RUMP_NCPU`. */
  readonly param: string;
  /** The value as given. */
  readonly value: string;

  constructor(param: string, value: string, expected: string) {
    super(`${param}: invalid value ${JSON.stringify(value)}: expected ${expected}`);
    this.name = 'BootParamError';
    this.param = param;
    this.value = value;
  }
}

/** hw.ncpu when RUMP_NCPU is unset (what rumpuser defaults to). */
export const DEFAULT_NCPU = 2;

const DECIMAL = /^[0-9]+$/;
const BYTES = /^([0-9]+)([kmg]?)$/;
const SUFFIX_MULTIPLIER: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

export function parseNcpu(value: string | undefined, hostNcpu: number): number {
  if (value === undefined) return DEFAULT_NCPU;
  if (value === 'host') return Math.max(1, Math.floor(hostNcpu));
  const n = DECIMAL.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new BootParamError('RUMP_NCPU', value, 'an integer >= 1 or "host"');
  }
  return n;
}

export function parseVerbose(value: string | undefined): boolean {
  return value !== undefined && value.length > 0 && value[0] !== '0';
}

export function parseMemlimit(value: string | undefined): number {
  if (value === undefined) return Infinity;
  const m = BYTES.exec(value);
  const bytes = m === null ? NaN : Number(m[1]) * SUFFIX_MULTIPLIER[m[2]!]!;
  if (!Number.isSafeInteger(bytes)) {
    throw new BootParamError(
      'RUMP_MEMLIMIT',
      value,
      'a byte count in decimal digits with at most one suffix k, m or g',
    );
  }
  return bytes;
}

/**
 * Read and validate RUMP_NCPU, RUMP_VERBOSE and RUMP_MEMLIMIT.
 * `get` is usually `(name) => hypercall.getparam(name)`.
 * Throws `BootParamError` for the first bad value.
 */
export function parseBootParams(get: (name: string) => string | undefined, hostNcpu: number): BootParams {
  return {
    ncpu: parseNcpu(get('RUMP_NCPU'), hostNcpu),
    verbose: parseVerbose(get('RUMP_VERBOSE')),
    memlimit: parseMemlimit(get('RUMP_MEMLIMIT')),
  };
}
