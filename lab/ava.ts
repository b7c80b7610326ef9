/*
 * The lab for ava tests: each test gets a fresh lab; its teardown closes
 * everything, lets every timer run out and fails the test if any host still
 * holds a socket, a timer or a packet buffer (counted before halt); a test
 * that fails leaves its capture and its seed so it can be replayed.
 *
 *   import test from 'ava';
 *   import { withLab } from 'rumpnet/lab/ava';
 *
 *   test('a download across a lossy link', withLab(async (t, lab) => {
 *     const a = lab.host('a'), b = lab.host('b');
 *     lab.link(a, b, { loss: 0.05 });
 *     ...
 *   }, { seed: 7 }));
 *
 * On failure: `<dir>/<test title>.pcapng` (dir: `opts.dir`, else
 * RUMPNET_LAB_DIR, else `lab-failures` under the working directory) and a
 * t.log line with the path and the seed. RUMPNET_LAB_SEED overrides the
 * seed, to replay a run or to try others.
 *
 * This file is test tooling, not the lab: it is the one lab file that
 * touches the host (the environment and the file it leaves).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ExecutionContext } from 'ava';
import { createLab, type Held, type Lab, type LabOptions } from './index.js';

export interface LabTestOptions extends LabOptions {
  /** Where a failing test leaves its pcapng. */
  dir?: string;
  /** Check for leaks at teardown (default true; never for a lab with clock 'real'). */
  leakCheck?: boolean;
  /** Virtual time the teardown lets timers run for (default 25 h: TIME_WAIT, ARP, reassembly). */
  quiesceMs?: number;
}

/** File name from a test title: letters, digits, '.', '_' and '-' kept, the rest '_'. */
export function failureFileName(title: string): string {
  return `${title.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120) || 'lab'}.pcapng`;
}

function envSeed(): number | undefined {
  const s = process.env.RUMPNET_LAB_SEED;
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  if (!Number.isInteger(n)) throw new RangeError(`RUMPNET_LAB_SEED must be an integer, not ${JSON.stringify(s)}`);
  return n;
}

const CLEAN: Held = { pcbs: 0, callouts: 0, mbufs: 0 };

/** An ava implementation running `fn` with a fresh lab (see the top of this file). */
export function withLab<C = unknown>(
  fn: (t: ExecutionContext<C>, lab: Lab) => unknown,
  opts: LabTestOptions = {},
): (t: ExecutionContext<C>) => Promise<void> {
  return async (t) => {
    const seed = envSeed() ?? opts.seed ?? 1;
    const lab = createLab({ seed, capture: opts.capture ?? true, clock: opts.clock, routes: opts.routes });
    let threw = false;
    let error: unknown;
    try {
      await fn(t, lab);
      // A real-time lab's timers run on the host's clock (ARP entries live 20 minutes): no leak check.
      if (opts.leakCheck !== false && opts.clock !== 'real') {
        const held = await lab.quiesce(opts.quiesceMs);
        for (const [name, h] of held) t.deepEqual(h, CLEAN, `lab host ${name} leaked (seed ${seed})`);
      }
    } catch (e) {
      threw = true;
      error = e;
    }
    await lab.halt();
    if ((threw || !t.passed) && opts.capture !== false) {
      const dir = resolve(opts.dir ?? process.env.RUMPNET_LAB_DIR ?? 'lab-failures');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, failureFileName(t.title));
      writeFileSync(file, lab.pcapng());
      t.log(`lab: capture in ${file}; replay with RUMPNET_LAB_SEED=${seed}`);
    }
    if (threw) throw error;
  };
}
