/*
 * The fuzz driver: rounds of inputs against a target's session, invariants
 * checked after each batch and at the end of each round.
 *
 * A session is one fresh world (kernels booted, or a decoder made) that
 * takes inputs. An exception escaping feed() or batchEnd() is a crash: the
 * driver replays that batch input by input in fresh sessions to name the
 * input that does it, and stops the round. close() returns the invariants
 * that failed (leaked buffers, PCBs or callouts, counters that disagree).
 */
import type { Kernel } from '../kern/kernel.js';
import { Rng, hex, mutate } from './engine.js';

export interface Session {
  corpus: readonly Uint8Array[];
  maxLen: number;
  /** The kernel under test, for network targets. */
  kernel?: Kernel;
  /** Repair checksums after mutation (most inputs), so the code behind them is reached. */
  fix?: (input: Uint8Array) => void;
  feed(input: Uint8Array): void | Promise<void>;
  /** Run what the batch queued; `ms` of virtual time pass (timers fire). */
  batchEnd(ms: number): Promise<void>;
  /** Tear down; the invariants that failed, as sentences. */
  close(): Promise<string[]>;
}

export interface Target {
  name: string;
  open(seed: number): Promise<Session>;
}

export interface Finding {
  target: string;
  seed: number;
  round: number;
  kind: 'crash' | 'invariant';
  message: string;
  /** The input that crashes a fresh session on its own, hex; absent if only the batch does. */
  input?: string;
}

export interface TargetResult {
  target: string;
  seed: number;
  inputs: number;
  rounds: number;
  ms: number;
  findings: Finding[];
}

export interface RunOptions {
  seed: number;
  inputs: number;
  /** Inputs per fresh world. */
  round?: number;
  /** Inputs between clock advances. */
  batch?: number;
  /** Wall-clock reader for the figures (the driver itself never needs one). */
  now?: () => number;
  /** Called after each round with the inputs done so far (progress of a long run). */
  onRound?: (inputs: number, rounds: number, findings: number) => void;
}

async function feedAll(s: Session, inputs: readonly Uint8Array[]): Promise<void> {
  for (const x of inputs) await s.feed(x);
  await s.batchEnd(1);
}

/** Which single input of a crashing batch crashes a fresh session by itself. */
async function culprit(t: Target, seed: number, batch: readonly Uint8Array[]): Promise<Uint8Array | undefined> {
  for (const x of batch) {
    const s = await t.open(seed);
    try {
      await feedAll(s, [x]);
    } catch {
      return x;
    }
    await s.close().catch(() => []);
  }
  return undefined;
}

export async function runTarget(t: Target, opts: RunOptions): Promise<TargetResult> {
  const roundSize = opts.round ?? 2000;
  const batchSize = opts.batch ?? 50;
  const now = opts.now ?? (() => 0);
  const rng = new Rng(opts.seed);
  const findings: Finding[] = [];
  const t0 = now();
  let done = 0;
  let round = 0;
  while (done < opts.inputs) {
    const worldSeed = rng.u32();
    const s = await t.open(worldSeed);
    const n = Math.min(roundSize, opts.inputs - done);
    let batch: Uint8Array[] = [];
    let crashed = false;
    for (let i = 0; i < n && !crashed; i++) {
      const x = mutate(rng, s.corpus, s.maxLen);
      if (s.fix && rng.chance(0.8)) s.fix(x);
      batch.push(x);
      done++;
      try {
        await s.feed(x);
        if (batch.length === batchSize || i === n - 1) {
          await s.batchEnd(rng.below(200));
          batch = [];
        }
      } catch (e) {
        crashed = true;
        const bad = await culprit(t, worldSeed, batch);
        findings.push({
          target: t.name, seed: opts.seed, round, kind: 'crash',
          message: (e as Error).stack ?? String(e),
          ...(bad ? { input: hex(bad) } : {}),
        });
        // The crashed world is dropped, not closed: it may be storming.
      }
    }
    if (!crashed) {
      for (const p of await s.close()) findings.push({ target: t.name, seed: opts.seed, round, kind: 'invariant', message: p });
    }
    round++;
    opts.onRound?.(done, round, findings.length);
  }
  return { target: t.name, seed: opts.seed, inputs: done, rounds: round, ms: now() - t0, findings };
}
