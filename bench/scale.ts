/*
 * Servers at scale (issue 9 item 10): idle connections held by one app on
 * one kernel, beside Node's own `net` over 127.0.0.1 in the same run.
 *
 *   heap:  JS heap per idle established connection pair (both ends: the
 *          client socket and the server's accepted socket), measured as the
 *          heapUsed delta across opening HEAP_PAIRS pairs, after forced
 *          garbage collections, divided by HEAP_PAIRS. Three rows on the same
 *          count: Node `net` over 127.0.0.1 (the baseline), `kernel.net`
 *          over lo0, `kernel.sys` over lo0 (bare descriptors). Node's count
 *          is bounded by this process's descriptor limit (ulimit -n): two
 *          descriptors a pair; HEAP_PAIRS defaults to what that allows.
 *   scale: SCALE_PAIRS (default 100,000) idle pairs through `kernel.net`
 *          in one kernel: time to open them, heap per pair at that count,
 *          a round trip on a sample of them while all are open, time to
 *          close them. 100,000 connections to one server port need more
 *          than one client address (an unbound connect takes an ephemeral
 *          port no other socket on this kernel holds: NetBSD's
 *          in_pcbbind), so clients bind 127.0.0.2, .3, ... (lo0 has 127/8).
 *
 * Run: node --expose-gc --import=tsx bench/scale.ts [heap] [scale]   (default both)
 *      BENCH_DIST=1 ...   the same against the compiled dist/ (npm run build first)
 *      HEAP_PAIRS=5000 SCALE_PAIRS=20000 node --expose-gc --import=tsx bench/scale.ts
 * Results: bench/results/scale.json (scale-dist.json with BENCH_DIST=1).
 *
 * Wall time is read through the kernel's host (the hypercall clock).
 */
import net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { RumpKernel } from '../index.js';

/*
 * BENCH_DIST=1 measures the compiled package (dist/, after `npm run build`),
 * what an installed rumpnet runs; by default the sources run under tsx, whose
 * keepNames gives every per-object arrow function a property store of its own.
 */
const fromDist = process.env['BENCH_DIST'] === '1';
const rumpnet = (await import(fromDist ? '../dist/index.js' : '../index.js')) as typeof import('../index.js');
const { AF_INET, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, rumpInit } = rumpnet;

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, 'results');
const PORT = 7000;
/** Connections in flight at once while opening: enough to keep the stacks busy, under every backlog. */
const WINDOW = 256;
/** Clients per client address in the scale run: under the 16,384 ephemeral ports of one address. */
const PER_ADDR = 15_000;

function usage(): never {
  process.stderr.write('usage: bench/scale.ts [heap] [scale]\n');
  process.exit(1);
}

function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) {
    process.stderr.write(`bench/scale.ts: ${name} must be a positive integer\n`);
    process.exit(1);
  }
  return Number(v);
}

/** This process's soft descriptor limit, from /proc (Node has no getrlimit). */
function nofileLimit(): number {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux: assume the common default
  }
  return 1024;
}

async function collect(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    process.stderr.write('bench/scale.ts: run node with --expose-gc (heap figures need forced collections)\n');
    process.exit(1);
  }
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise<void>((r) => setImmediate(r));
  }
}

/** What one side of the comparison must provide: open `n` pairs, close them all. */
interface Side {
  name: string;
  open(n: number): Promise<void>;
  close(): Promise<void>;
  /** Resolves once what close() left behind (TIME_WAIT) is gone. */
  drained(): Promise<void>;
}

/** Open n connections, WINDOW at a time; `one(i)` resolves when pair i is established at both ends. */
async function windowed(n: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, worker));
}

/** What pairing needs of a client socket, Node's or a kernel's. */
interface Connecting {
  once(event: 'connect', fn: () => void): unknown;
  once(event: 'error', fn: (e: Error) => void): unknown;
  removeListener(event: 'error', fn: (e: Error) => void): unknown;
}

/**
 * Settle once `c` is established at both ends: its own 'connect' and the
 * server's 'connection', which calls the next function queued in `waiting`.
 * The error listener goes once the pair is up, so what stays behind for
 * each pair is the connection's own state, not this harness's promise and
 * its closures (the same on every side).
 */
function established(c: Connecting, waiting: Array<() => void>, resolve: () => void, reject: (e: Error) => void): void {
  c.once('error', reject);
  let parts = 0;
  const done = (): void => {
    if (++parts === 2) {
      c.removeListener('error', reject);
      resolve();
    }
  };
  c.once('connect', done);
  waiting.push(done);
}

/** Pairs through a `net`-shaped module: Node's own or a kernel's `kernel.net`. */
function netSide(
  name: string, mod: typeof net | RumpKernel['net'], clientAddr: (i: number) => string | undefined, drain: () => Promise<void>,
): Side {
  const clients: net.Socket[] = [];
  const accepted: net.Socket[] = [];
  let server: net.Server | null = null;
  let waiting: Array<() => void> = [];
  return {
    name,
    async open(n) {
      server = (mod as typeof net).createServer((s) => {
        accepted.push(s);
        const w = waiting.shift();
        if (w) w();
      });
      await new Promise<void>((r) => server!.listen({ port: PORT, host: '127.0.0.1', backlog: 1024 }, r));
      await windowed(n, (i) => new Promise<void>((resolve, reject) => {
        const c = (mod as typeof net).connect({ port: PORT, host: '127.0.0.1', localAddress: clientAddr(i) });
        established(c, waiting, resolve, reject);
        clients.push(c);
      }));
    },
    async close() {
      const all = [...clients, ...accepted];
      await Promise.all(all.map((s) => new Promise<void>((r) => {
        s.once('close', () => r());
        s.destroy();
      })));
      clients.length = 0;
      accepted.length = 0;
      waiting = [];
      await new Promise<void>((r) => server!.close(() => r()));
      server = null;
    },
    drained: drain,
  };
}

/** Pairs through bare `kernel.sys` descriptors. */
function sysSide(k: RumpKernel): Side {
  const fds: number[] = [];
  let lfd = -1;
  return {
    name: 'kernel.sys',
    async open(n) {
      const s = k.sys;
      lfd = await s.socket(AF_INET, SOCK_STREAM);
      // The last run's accepted sockets sit in TIME_WAIT on this port.
      await s.setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, 1);
      await s.bind(lfd, { family: AF_INET, addr: '127.0.0.1', port: PORT + 1 });
      await s.listen(lfd, 1024);
      await windowed(n, async () => {
        const c = await s.socket(AF_INET, SOCK_STREAM);
        const acc = s.accept(lfd);
        await s.connect(c, { family: AF_INET, addr: '127.0.0.1', port: PORT + 1 });
        fds.push(c, (await acc).fd);
      });
    },
    async close() {
      await Promise.all(fds.map((fd) => k.sys.close(fd)));
      fds.length = 0;
      await k.sys.close(lfd);
    },
    drained: () => drained(k),
  };
}

interface HeapRow {
  side: string;
  pairs: number;
  heapPerPairBytes: number;
  openSeconds: number;
  ratioToNode: number;
}

/**
 * Wait until the kernel holds no TCP connection but its listeners: the
 * pairs a side closed linger in TIME_WAIT (2 s on lo0), and a TcpCb freed
 * while the next side is being measured would lower that side's figure.
 */
async function drained(k: RumpKernel): Promise<void> {
  for (;;) {
    const left = (await k.sys.ext('pcblist')).filter((p) => p.proto.startsWith('tcp') && p.state !== 'LISTEN').length;
    if (left === 0) return;
    await new Promise<void>((r) => setTimeout(r, 100));
  }
}

async function heapOf(side: Side, n: number, now: () => number): Promise<{ perPair: number; seconds: number }> {
  await collect();
  const h0 = process.memoryUsage().heapUsed;
  const t0 = now();
  await side.open(n);
  const seconds = (now() - t0) / 1000;
  await collect();
  const h1 = process.memoryUsage().heapUsed;
  await side.close();
  await side.drained();
  return { perPair: (h1 - h0) / n, seconds };
}

async function heapSuite(k: RumpKernel): Promise<HeapRow[]> {
  const limit = nofileLimit();
  const pairs = envInt('HEAP_PAIRS', Math.min(10_000, Math.floor((limit - 200) / 2)));
  const now = (): number => k.host.now();
  const sides: Side[] = [
    // Node's TIME_WAIT is the host kernel's, outside this heap.
    netSide('node net (127.0.0.1)', net, () => undefined, async () => {}),
    netSide('kernel.net (lo0)', k.net, () => undefined, () => drained(k)),
    sysSide(k),
  ];
  // Warm up every side once (code compiled, pools and tables grown) so the
  // measured deltas are per-connection state, not first-use costs.
  for (const s of sides) {
    await s.open(Math.min(200, pairs));
    await s.close();
    await s.drained();
  }
  const rows: HeapRow[] = [];
  let nodePerPair = 0;
  for (const s of sides) {
    const { perPair, seconds } = await heapOf(s, pairs, now);
    if (rows.length === 0) nodePerPair = perPair;
    rows.push({ side: s.name, pairs, heapPerPairBytes: Math.round(perPair), openSeconds: +seconds.toFixed(3), ratioToNode: +(perPair / nodePerPair).toFixed(2) });
  }
  console.log(`heap per idle connection pair (both ends), ${pairs} pairs (this process's ulimit -n: ${limit}):`);
  for (const r of rows) {
    console.log(`  ${r.side.padEnd(24)} ${(r.heapPerPairBytes / 1024).toFixed(2).padStart(7)} KiB   ${r.ratioToNode.toFixed(2)}x node   opened in ${r.openSeconds}s`);
  }
  return rows;
}

interface ScaleRow {
  pairs: number;
  openSeconds: number;
  openPerSecond: number;
  heapPerPairBytes: number;
  roundTrips: number;
  closeSeconds: number;
  nodeHeapPerPairBytes?: number;
}

async function scaleSuite(k: RumpKernel, nodePerPair: number | undefined): Promise<ScaleRow> {
  const pairs = envInt('SCALE_PAIRS', 100_000);
  const now = (): number => k.host.now();
  const clients: Array<ReturnType<RumpKernel['net']['connect']>> = [];
  const accepted: Array<ReturnType<RumpKernel['net']['connect']>> = [];
  let waiting: Array<() => void> = [];
  const server = k.net.createServer((s) => {
    accepted.push(s);
    waiting.shift()?.();
  });
  await new Promise<void>((r) => server.listen({ port: PORT + 2, host: '127.0.0.1', backlog: 1024 }, r));
  await collect();
  const h0 = process.memoryUsage().heapUsed;
  const t0 = now();
  await windowed(pairs, (i) => new Promise<void>((resolve, reject) => {
    const localAddress = `127.0.${Math.floor(i / PER_ADDR / 250)}.${2 + (Math.floor(i / PER_ADDR) % 250)}`;
    const c = k.net.connect({ port: PORT + 2, host: '127.0.0.1', localAddress });
    established(c, waiting, resolve, reject);
    clients.push(c);
    if ((i + 1) % 10_000 === 0) process.stderr.write(`  ${i + 1} open\n`);
  }));
  const openSeconds = (now() - t0) / 1000;
  await collect();
  const perPair = (process.memoryUsage().heapUsed - h0) / pairs;
  // Every pair is alive: an echo on a sample spread across the whole set.
  let roundTrips = 0;
  const step = Math.max(1, Math.floor(pairs / 100));
  for (let i = 0; i < pairs; i += step) {
    const c = clients[i]!;
    const a = accepted.find((s) => s.remotePort === c.localPort && s.remoteAddress === c.localAddress)!;
    const got = new Promise<void>((r) => c.once('data', () => r()));
    a.once('data', (d) => a.write(d));
    c.write('ping');
    await got;
    roundTrips++;
  }
  const t1 = now();
  await Promise.all([...clients, ...accepted].map((s) => new Promise<void>((r) => {
    s.once('close', () => r());
    s.destroy();
  })));
  const closeSeconds = (now() - t1) / 1000;
  waiting = [];
  await new Promise<void>((r) => server.close(() => r()));
  const row: ScaleRow = {
    pairs,
    openSeconds: +openSeconds.toFixed(3),
    openPerSecond: Math.round(pairs / openSeconds),
    heapPerPairBytes: Math.round(perPair),
    roundTrips,
    closeSeconds: +closeSeconds.toFixed(3),
    ...(nodePerPair !== undefined ? { nodeHeapPerPairBytes: Math.round(nodePerPair) } : {}),
  };
  console.log(`${pairs} idle pairs through kernel.net on one kernel: opened in ${row.openSeconds}s (${row.openPerSecond}/s), ` +
    `${(perPair / 1024).toFixed(2)} KiB heap per pair, ${roundTrips} echoes across them, closed in ${row.closeSeconds}s`);
  return row;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  for (const a of args) if (a !== 'heap' && a !== 'scale') usage();
  const suites = args.length > 0 ? args : ['heap', 'scale'];
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet'] });
  const out: { heap?: HeapRow[]; scale?: ScaleRow } = {};
  if (suites.includes('heap')) out.heap = await heapSuite(k);
  if (suites.includes('scale')) out.scale = await scaleSuite(k, out.heap?.[0]?.heapPerPairBytes);
  await k.halt();
  const file = fromDist ? 'scale-dist.json' : 'scale.json';
  writeFileSync(join(resultsDir, file), JSON.stringify({ node: process.version, code: fromDist ? 'dist' : 'tsx', ...out }, null, 2) + '\n');
}

await main();
