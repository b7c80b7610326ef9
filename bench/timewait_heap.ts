/*
 * JS heap per TCP connection in TIME_WAIT (issue 13 item 5: is a compact
 * TIME_WAIT, FreeBSD's tcptw, worth its change?), beside an idle
 * ESTABLISHED connection in the same run as the baseline.
 *
 *   established:  N idle connections over lo0 (both ends), heap delta / N
 *                 (per connection pair) after forced garbage collections.
 *   time_wait:    N connections closed by the client first, so the client
 *                 end waits in TIME_WAIT (2 MSL, msl set long enough that
 *                 none expires) and the server end is gone: heap delta / N.
 *   after expiry: the same once every TIME_WAIT ran out (what stays is
 *                 table capacity, not connections).
 *
 * Run: node --expose-gc --import=tsx bench/timewait_heap.ts [N]   (default 2000)
 * Results: bench/results/timewait-heap.json. On the simulated clock (no
 * wall time is measured), one kernel, lo0.
 */
import { writeFileSync } from 'node:fs';
import { rumpInit, createSimHost, AF_INET, SOCK_STREAM } from '../index.js';

const N = Number(process.argv[2] ?? 2000);
if (!Number.isSafeInteger(N) || N < 1) {
  process.stderr.write('usage: node --expose-gc --import=tsx bench/timewait_heap.ts [connections]\n');
  process.exit(1);
}
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('timewait_heap: run node with --expose-gc\n');
  process.exit(1);
}
const heap = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const sim = createSimHost({ seed: 1 });
const k = await rumpInit({ host: sim });
const sin = (addr: string, port: number) => ({ family: AF_INET, addr, port });
// TIME_WAIT lasts 2 MSL; on loopback FreeBSD's mslt shortens it: off, and an hour's MSL.
await k.sys.sysctlSet('net.inet.tcp.mslt.enable', 0);
await k.sys.sysctlSet('net.inet.tcp.msl', 3_600_000);
const lfd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
await k.sys.bind(lfd, sin('127.0.0.1', 80));
await k.sys.listen(lfd, 4096);

async function drive<T>(p: Promise<T>): Promise<T> {
  let done = false;
  void p.then(() => {
    done = true;
  });
  for (let i = 0; i < 10_000 && !done; i++) await sim.run(1);
  return p;
}

async function open(n: number): Promise<Array<[number, number]>> {
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    const c = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
    await drive(k.sys.connect(c, sin('127.0.0.1', 80)));
    const { fd: s } = await drive(k.sys.accept(lfd));
    pairs.push([c, s]);
  }
  await sim.run(1000);
  return pairs;
}

/** The client closes first (its end goes to TIME_WAIT), then the server. */
async function closeAll(pairs: Array<[number, number]>): Promise<void> {
  for (const [c, s] of pairs) {
    await k.sys.close(c);
    await sim.run(1);
    await k.sys.close(s);
    await sim.run(1);
  }
  await sim.run(1000);
}

async function states(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const p of (await k.sys.ext('pcblist')) as Array<{ proto: string; state?: string }>) {
    if (p.proto.startsWith('tcp')) out[p.state ?? '?'] = (out[p.state ?? '?'] ?? 0) + 1;
  }
  return out;
}

// A warm-up round, so that code compiled on first use is not counted.
await closeAll(await open(200));
await sim.run(3 * 3_600_000);

const h0 = heap();
const pairs = await open(N);
const h1 = heap();
await closeAll(pairs);
pairs.length = 0;
const tw = await states();
const h2 = heap();
await sim.run(3 * 3_600_000);
const left = await states();
const h3 = heap();

const out = {
  command: `node --expose-gc --import=tsx bench/timewait_heap.ts ${N}`,
  node: process.version,
  connections: N,
  established: { bytesPerPair: Math.round((h1 - h0) / N) },
  timeWait: { count: tw['TIME_WAIT'] ?? 0, bytesPerConnection: Math.round((h2 - h0) / N) },
  afterExpiry: { pcbsLeft: left, bytesPerConnection: Math.round((h3 - h0) / N) },
};
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
writeFileSync('bench/results/timewait-heap.json', JSON.stringify(out, null, 2) + '\n');
await k.halt();
process.exit(0);
