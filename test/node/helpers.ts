/*
 * Helpers for the Node-compatible faces: event traces that can be compared
 * between Node's own modules on the host loopback and a rump kernel's,
 * and a driver for promises on a simulated clock.
 */
import type { SimHost } from '../../hypercall/sim.js';
import { rumpInit, type RumpKernel } from '../../index.js';

/** Events as a test reads them: one line each, in the order they happened. */
export class Trace {
  readonly lines: string[] = [];
  private readonly labels = new Map<number, string>();

  /** Show port `port` as `name` in lines (host and kernel pick different ports). */
  label(port: number, name: string): void {
    this.labels.set(port, name);
  }

  port(p: number | undefined): string {
    if (p === undefined) return 'undefined';
    return this.labels.get(p) ?? (p > 0 ? 'ephemeral' : String(p));
  }

  add(line: string): void {
    this.lines.push(line);
  }

  /** An error as the fields code relies on: code, syscall, and where it went. */
  error(where: string, e: unknown): void {
    const err = e as { code?: string; syscall?: string; address?: string; port?: number; errno?: number; name?: string };
    const parts = [`${where} error ${err.code}`];
    if (err.syscall !== undefined) parts.push(`syscall=${err.syscall}`);
    if (err.address !== undefined) parts.push(`address=${err.address}`);
    if (err.port !== undefined) parts.push(`port=${this.port(err.port)}`);
    if (typeof err.errno === 'number' && err.errno > 0) parts.push('errno>0!');
    this.lines.push(parts.join(' '));
  }
}

/** Run `fn`, recording a thrown error's code (or `no throw`). */
export function throws(trace: Trace, what: string, fn: () => unknown): void {
  try {
    fn();
    trace.add(`${what}: no throw`);
  } catch (e) {
    trace.error(what, e);
  }
}

/** A promise and its resolver, for waiting on events. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Wait for the next `event` of `emitter`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function once<T = unknown>(emitter: { once(event: string, fn: (...a: any[]) => void): unknown }, event: string): Promise<T> {
  return new Promise<T>((resolve) => emitter.once(event, (v: T) => resolve(v)));
}

/** Run a promise to completion while the virtual clock moves. */
export async function drive<T>(sim: SimHost, p: Promise<T>, maxMs = 600_000): Promise<T> {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  p.then(
    (v) => {
      done = true;
      value = v;
    },
    (e) => {
      done = true;
      error = e;
    },
  );
  await sim.runUntil(() => done, maxMs);
  if (!done) throw new Error('did not finish in virtual time');
  if (error) throw error;
  return value as T;
}

/** A kernel on `sim` with one shmif interface on `bus` at `addr`/24. */
export async function simKernel(sim: SimHost, bus: string, addr: string): Promise<RumpKernel> {
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_shmif'], host: sim });
  const ifname = await k.netconfig.ifcreate('shmif');
  await k.netconfig.ifsetlinkstr(ifname, bus);
  await k.netconfig.ipv4IfaddrCidr(ifname, addr, 24);
  return k;
}
