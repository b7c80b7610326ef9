/*
 * The faces an application uses, beside Node's own `net` over the host's
 * loopback in the same run (issue 9, items 1 and 3). Every comparison does
 * the same work on both sides:
 *
 *   bulk:  connect; the client writes TOTAL bytes in 64 KiB writes, waiting
 *          for 'drain' when write() says so (with sys: each write awaited),
 *          then ends; the server reads everything (64 KiB reads with sys)
 *          and ends too; the figure is TOTAL over the time from the connect
 *          call to the client's 'close' (sys: to the client's read of EOF
 *          and close()).
 *   conns: connections one after another: connect, write 4 bytes, the
 *          server echoes them, the client ends on the echo, the server ends
 *          on the client's FIN, the client waits for 'close' (sys: reads to
 *          EOF, then close()). Per second, over N connections.
 *
 * Rows: Node net over 127.0.0.1; one kernel over lo0 through `kernel.net`
 * and through `kernel.sys`; two kernels on one shmif bus in one process
 * through `kernel.net` and through `kernel.sys`. (Room is left for the
 * remote-client and hijack rows: add a Case with its own `run`.)
 *
 * Short runs are what a test or a short-lived program sees: every case runs
 * in a fresh process (64 MiB, or 3,000 connections). Long runs do the same
 * with 512 MiB or 15,000 connections, also one fresh process per case, so
 * JIT and pool warm-up are amortised but never shared between rows.
 * Cases alternate (node, lo0 net, lo0 sys, ...) in each of RUNS rounds, so
 * the machine's noise falls on all of them alike; ratios are taken against
 * the Node row of the same round.
 *
 * Every case records wall time and the process's CPU time (user + system,
 * so the host kernel's share of Node's loopback counts) over the same
 * window; on a machine shared with other work the CPU figures, and the
 * ratios of the same round, are the ones that hold still. The load average
 * at each round is recorded beside them. On Linux the main thread's own CPU
 * time is recorded too: the process figure also holds V8's background
 * threads, whose optimizing compiles are most of what a short run of the
 * kernel costs beyond its main thread.
 *
 * Run:     node --import=tsx bench/faces.ts [short|long|all] [bulk|conns] [RUNS=3]
 *   e.g.   node --import=tsx bench/faces.ts short          (both suites, 3 rounds)
 *          RUNS=1 node --import=tsx bench/faces.ts long bulk
 * One case by hand: node --import=tsx bench/faces.ts --case bulk:lo0-net 67108864
 *   with FACES_CALLS=1: the JS calls it made, counted (startCallCount); FACES_TOP=N lists the N most called (15)
 *   with FACES_ASYNC=1: the ticks, immediates, timers, microtasks and promises it made, by type (startAsyncCount)
 * The kernel compiled: npm run build && BENCH_DIST=1 node --import=tsx bench/faces.ts short
 * A change against the tree before it, in the same rounds (kernel rows twice, NAME@base from DIR):
 *          FACES_BASE=DIR node --import=tsx bench/faces.ts short   (DIR: a checkout with node_modules)
 * Results: bench/results/faces-<length>.json (every round, the medians and the ratios),
 *          faces-<length>-ab.json with FACES_BASE.
 */
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

import type { RumpKernel, Sockaddr } from '../index.js';

/*
 * BENCH_DIST=1 takes the kernel from the compiled build (`npm run build`,
 * dist/) instead of the sources through tsx, to tell what tsx's transform
 * costs a run from what the kernel costs. Node's rows are the same either way.
 */
const DIST = process.env.BENCH_DIST === '1';
const lib = (DIST ? await import(['..', 'dist', 'index.js'].join('/')) : await import('../index.js')) as typeof import('../index.js');
const { AF_INET, SHUT_WR, SOCK_STREAM, rumpInit } = lib;

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, 'results');
const CHUNK = 64 * 1024;
const ECHO = Buffer.from('ping');
const PORT = 5001;

/** Wall and CPU time from one instant: the CPU figure moves less than wall time on a loaded machine. */
interface Took {
  seconds: number;
  cpuSeconds: number;
  /**
   * The main thread's own CPU time (Linux: /proc/self/task/<pid>/schedstat),
   * without V8's background threads (the optimizing compiler, concurrent
   * GC): null where the host does not say.
   */
  mainCpuSeconds: number | null;
}

function mainThreadNs(): number | null {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}

function startClock(): () => Took {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const m0 = mainThreadNs();
  return () => {
    const c = process.cpuUsage(c0);
    const m1 = mainThreadNs();
    const mainCpuSeconds = m0 === null || m1 === null ? null : (m1 - m0) / 1e9;
    return { seconds: (performance.now() - t0) / 1000, cpuSeconds: (c.user + c.system) / 1e6, mainCpuSeconds };
  };
}

const SIZES = {
  short: { bulk: 64 * 1024 * 1024, conns: 3000 },
  long: { bulk: 512 * 1024 * 1024, conns: 15000 },
} as const;

/* ------------------------------------------------------------------------ */
/* Where a case runs: a pair of kernels (or one), or the host. */

interface Pair {
  a: RumpKernel;
  b: RumpKernel;
  addr: string;
  bus: string | null;
  halt(): Promise<void>;
}

async function loPair(): Promise<Pair> {
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet'] });
  return { a: k, b: k, addr: '127.0.0.1', bus: null, halt: () => k.halt() };
}

async function shmifPair(): Promise<Pair> {
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-bench-faces-'));
  const bus = join(dir, 'bus');
  const ks: RumpKernel[] = [];
  for (const addr of ['192.0.2.1', '192.0.2.2']) {
    const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_shmif'] });
    await k.netconfig.ifcreate('shmif0');
    await k.netconfig.ifsetlinkstr('shmif0', bus);
    await k.netconfig.ipv4IfaddrCidr('shmif0', addr, 24);
    ks.push(k);
  }
  const [a, b] = ks as [RumpKernel, RumpKernel];
  return {
    a,
    b,
    addr: '192.0.2.2',
    bus: dir,
    halt: async () => {
      await Promise.all([a.halt(), b.halt()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The parts of node:net a case uses: Node's own, or a kernel's `net`. */
interface NetLike {
  createServer(onConn: (s: net.Socket) => void): net.Server;
  connect(port: number, host: string): net.Socket;
}

/* ------------------------------------------------------------------------ */
/* The same work through a net face (Node's or a kernel's). */

function listenNet(face: NetLike, port: number, host: string, onConn: (s: net.Socket) => void): Promise<{ port: number; server: net.Server }> {
  return new Promise((resolve, reject) => {
    const server = face.createServer(onConn);
    server.once('error', reject);
    server.listen(port, host, () => resolve({ port: (server.address() as net.AddressInfo).port, server }));
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Bulk through a net face; returns seconds from connect to the client's 'close'. */
async function netBulk(client: NetLike, server: NetLike, host: string, total: number): Promise<Took> {
  let received = 0;
  const srv = await listenNet(server, PORT, host, (s) => {
    s.on('data', (d: Buffer) => (received += d.length));
    s.on('error', () => {});
  });
  const chunk = Buffer.alloc(CHUNK, 0x61);
  const stop = startClock();
  await new Promise<void>((resolve, reject) => {
    const c = client.connect(srv.port, host);
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        sent += CHUNK;
        if (!c.write(chunk)) return;
      }
      c.end();
    };
    c.on('connect', pump);
    c.on('drain', pump);
    c.on('data', () => {});
    c.on('close', () => resolve());
    c.on('error', reject);
  });
  const took = stop();
  await closeServer(srv.server);
  if (received !== total) throw new Error(`bulk: the server read ${received} of ${total} bytes`);
  return took;
}

/** One echo connection through a net face: connect, 4 bytes, echo, end, wait for 'close'. */
function netOneConnection(client: NetLike, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = client.connect(port, host);
    c.on('connect', () => c.write(ECHO));
    let got = 0;
    c.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= ECHO.length) c.end();
    });
    c.on('close', () => (got === ECHO.length ? resolve() : reject(new Error(`echo: got ${got} bytes`))));
    c.on('error', reject);
  });
}

async function netConns(client: NetLike, server: NetLike, host: string, n: number): Promise<Took> {
  const srv = await listenNet(server, PORT, host, (s) => {
    s.on('data', (d: Buffer) => s.write(d));
    s.on('error', () => {});
  });
  const stop = startClock();
  for (let i = 0; i < n; i++) await netOneConnection(client, srv.port, host);
  const took = stop();
  await closeServer(srv.server);
  return took;
}

/* ------------------------------------------------------------------------ */
/* The same work through sys (BSD sockets, every call awaited). */

const sin = (addr: string, port: number): Sockaddr => ({ family: AF_INET, addr, port });

async function sysListen(k: RumpKernel, port: number): Promise<number> {
  const fd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
  await k.sys.bind(fd, sin('0.0.0.0', port));
  await k.sys.listen(fd, 128);
  return fd;
}

async function sysWriteAll(k: RumpKernel, fd: number, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length; ) off += await k.sys.write(fd, off === 0 ? data : data.subarray(off));
}

/** Read to EOF; returns the bytes read. */
async function sysDrain(k: RumpKernel, fd: number): Promise<number> {
  let n = 0;
  for (;;) {
    const d = await k.sys.read(fd, CHUNK);
    if (d.length === 0) return n;
    n += d.length;
  }
}

async function sysBulk(p: Pair, total: number): Promise<Took> {
  const lfd = await sysListen(p.b, PORT);
  const server = (async () => {
    const { fd } = await p.b.sys.accept(lfd);
    const n = await sysDrain(p.b, fd);
    await p.b.sys.shutdown(fd, SHUT_WR);
    await p.b.sys.close(fd);
    return n;
  })();
  const chunk = new Uint8Array(CHUNK).fill(0x61);
  const stop = startClock();
  const fd = await p.a.sys.socket(AF_INET, SOCK_STREAM, 0);
  await p.a.sys.connect(fd, sin(p.addr, PORT));
  for (let sent = 0; sent < total; sent += CHUNK) await sysWriteAll(p.a, fd, chunk);
  await p.a.sys.shutdown(fd, SHUT_WR);
  await sysDrain(p.a, fd);
  await p.a.sys.close(fd);
  const took = stop();
  const received = await server;
  await p.b.sys.close(lfd);
  if (received !== total) throw new Error(`bulk: the server read ${received} of ${total} bytes`);
  return took;
}

async function sysConns(p: Pair, n: number): Promise<Took> {
  const lfd = await sysListen(p.b, PORT);
  let running = true;
  const serve = async (fd: number): Promise<void> => {
    const d = await p.b.sys.read(fd, CHUNK);
    if (d.length) await sysWriteAll(p.b, fd, d);
    await sysDrain(p.b, fd);
    await p.b.sys.shutdown(fd, SHUT_WR);
    await p.b.sys.close(fd);
  };
  const acceptor = (async () => {
    while (running) {
      const r = await p.b.sys.accept(lfd).catch(() => null);
      if (r === null) return;
      void serve(r.fd).catch(() => {});
    }
  })();
  const stop = startClock();
  for (let i = 0; i < n; i++) {
    const fd = await p.a.sys.socket(AF_INET, SOCK_STREAM, 0);
    await p.a.sys.connect(fd, sin(p.addr, PORT));
    await sysWriteAll(p.a, fd, ECHO);
    let got = 0;
    while (got < ECHO.length) {
      const d = await p.a.sys.read(fd, CHUNK);
      if (d.length === 0) throw new Error('echo: EOF before the echo');
      got += d.length;
    }
    await p.a.sys.shutdown(fd, SHUT_WR);
    await sysDrain(p.a, fd);
    await p.a.sys.close(fd);
  }
  const took = stop();
  running = false;
  await p.b.sys.close(lfd);
  await acceptor;
  return took;
}

/* ------------------------------------------------------------------------ */
/* Cases. */

type Suite = 'bulk' | 'conns';

interface Case {
  suite: Suite;
  name: string;
  label: string;
  /** Wall and CPU seconds for `amount` (bytes or connections), from the connect of the first to the 'close' of the last. */
  run(amount: number): Promise<Took>;
}

const nodeNet: NetLike = net as unknown as NetLike;
const kernelNet = (k: RumpKernel): NetLike => k.net as unknown as NetLike;

async function onPair(make: () => Promise<Pair>, fn: (p: Pair) => Promise<Took>): Promise<Took> {
  const p = await make();
  try {
    return await fn(p);
  } finally {
    await p.halt();
  }
}

const CASES: Case[] = [
  { suite: 'bulk', name: 'bulk:node', label: 'node net over 127.0.0.1', run: (n) => netBulk(nodeNet, nodeNet, '127.0.0.1', n) },
  { suite: 'bulk', name: 'bulk:lo0-net', label: 'one kernel over lo0, kernel.net', run: (n) => onPair(loPair, (p) => netBulk(kernelNet(p.a), kernelNet(p.b), p.addr, n)) },
  { suite: 'bulk', name: 'bulk:lo0-sys', label: 'one kernel over lo0, kernel.sys', run: (n) => onPair(loPair, (p) => sysBulk(p, n)) },
  { suite: 'bulk', name: 'bulk:shmif-net', label: 'two kernels on a shmif bus, kernel.net', run: (n) => onPair(shmifPair, (p) => netBulk(kernelNet(p.a), kernelNet(p.b), p.addr, n)) },
  { suite: 'bulk', name: 'bulk:shmif-sys', label: 'two kernels on a shmif bus, kernel.sys', run: (n) => onPair(shmifPair, (p) => sysBulk(p, n)) },
  // Remote client (sysproxy) and hijack rows go here, as their own cases.
  { suite: 'conns', name: 'conns:node', label: 'node net over 127.0.0.1', run: (n) => netConns(nodeNet, nodeNet, '127.0.0.1', n) },
  { suite: 'conns', name: 'conns:lo0-net', label: 'one kernel over lo0, kernel.net', run: (n) => onPair(loPair, (p) => netConns(kernelNet(p.a), kernelNet(p.b), p.addr, n)) },
  { suite: 'conns', name: 'conns:lo0-sys', label: 'one kernel over lo0, kernel.sys', run: (n) => onPair(loPair, (p) => sysConns(p, n)) },
  { suite: 'conns', name: 'conns:shmif-net', label: 'two kernels on a shmif bus, kernel.net', run: (n) => onPair(shmifPair, (p) => netConns(kernelNet(p.a), kernelNet(p.b), p.addr, n)) },
  { suite: 'conns', name: 'conns:shmif-sys', label: 'two kernels on a shmif bus, kernel.sys', run: (n) => onPair(shmifPair, (p) => sysConns(p, n)) },
];

/** In a child: run one case once and print its seconds as JSON. */
async function child(name: string, amount: number): Promise<void> {
  const c = CASES.find((x) => x.name === name);
  if (!c) throw new Error(`unknown case ${name}`);
  const counting = process.env.FACES_CALLS === '1' ? await startCallCount() : null;
  const asyncCounting = process.env.FACES_ASYNC === '1' ? await startAsyncCount() : null;
  const took = await c.run(amount);
  const calls = counting === null ? {} : { calls: await counting() };
  const async = asyncCounting === null ? {} : { async: asyncCounting() };
  process.stdout.write(JSON.stringify({ name, amount, ...took, ...calls, ...async }) + '\n');
}

/*
 * FACES_ASYNC=1 with --case: the asynchronous resources the case made
 * (boot and listen included), by async_hooks type: TickObject
 * (process.nextTick), Immediate, Timeout, Microtask (queueMicrotask),
 * PROMISE, and the host's own wraps on Node's side (TCPWRAP...). Each is a
 * turn of the event loop or a hop between the kernel's state change and
 * an event; divide by the connections for the cost of one. The hook itself
 * slows the run (promises are tracked): the times beside it mean nothing.
 */
async function startAsyncCount(): Promise<() => Record<string, number>> {
  const { createHook } = await import('node:async_hooks');
  const counts: Record<string, number> = {};
  const hook = createHook({
    init(_id, type) {
      counts[type] = (counts[type] ?? 0) + 1;
    },
  }).enable();
  return () => {
    hook.disable();
    return counts;
  };
}

/*
 * FACES_CALLS=1 with --case: how many JS function calls the case made
 * (boot and listen included), counted by V8's precise coverage, with the
 * 15 most called functions. The count does not depend on the machine's
 * load, unlike the times; unoptimised, every call is paid for in full,
 * which is what a short run is made of. Coverage slows the run: the times
 * printed beside it mean nothing.
 */
async function startCallCount(): Promise<() => Promise<{ total: number; top: string[] }>> {
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  const post = (method: string, params: object = {}): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
  await post('Profiler.enable');
  if (process.env.FACES_SRC === '1') await post('Debugger.enable');
  await post('Profiler.startPreciseCoverage', { callCount: true, detailed: false });
  return async () => {
    const cov = (await post('Profiler.takePreciseCoverage')) as {
      result: Array<{ scriptId: string; url: string; functions: Array<{ functionName: string; ranges: Array<{ count: number; startOffset: number }> }> }>;
    };
    const rows: Array<[number, string]> = [];
    for (const script of cov.result) {
      const where = script.url.split('/').slice(-2).join('/');
      for (const fn of script.functions) {
        const r = fn.ranges[0]!;
        if (r.count > 0) rows.push([r.count, `${fn.functionName || '(anonymous)'} ${where}`]);
        // FACES_SRC=1: the function's first source text too (tell apart the accessors of one name).
        if (r.count > 0 && process.env.FACES_SRC === '1' && where.startsWith('tcp/')) {
          const { scriptSource } = (await post('Debugger.getScriptSource', { scriptId: script.scriptId })) as { scriptSource: string };
          rows[rows.length - 1]![1] += ` «${scriptSource.slice(r.startOffset, r.startOffset + 90).replace(/\s+/g, ' ')}»`;
        }
      }
    }
    session.disconnect();
    rows.sort((a, b) => b[0] - a[0]);
    return { total: rows.reduce((n, r) => n + r[0], 0), top: rows.slice(0, Number(process.env.FACES_TOP ?? 15)).map(([n, f]) => `${n} ${f}`) };
  };
}

/*
 * FACES_BASE=DIR runs every kernel case a second time in the same round
 * from the checkout in DIR (its own bench/faces.ts, a fresh process too),
 * as the row NAME@base: a change measured against the tree before it in
 * the same rounds, beside the same Node row. The two run in turn, the
 * first of them alternating between rounds.
 */
const BASE_TREE = process.env.FACES_BASE;
const BASE_SUFFIX = '@base';

function runChild(name: string, amount: number): Took {
  const base = name.endsWith(BASE_SUFFIX);
  const script = base ? join(BASE_TREE!, 'bench', 'faces.ts') : fileURLToPath(import.meta.url);
  const out = execFileSync(process.execPath, [...process.execArgv, script, '--case', base ? name.slice(0, -BASE_SUFFIX.length) : name, String(amount)], {
    encoding: 'utf8',
    timeout: 600_000,
    cwd: base ? BASE_TREE : undefined,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Took;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function usage(): never {
  console.error('usage: node --import=tsx bench/faces.ts [short|long|all] [bulk|conns]\n       node --import=tsx bench/faces.ts --case name amount');
  process.exit(1);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--case') {
    if (args.length !== 3 || !Number.isInteger(Number(args[2]))) usage();
    await child(args[1]!, Number(args[2]));
    return;
  }
  const lengths = args.filter((a) => a === 'short' || a === 'long' || a === 'all');
  const suites = args.filter((a): a is Suite => a === 'bulk' || a === 'conns');
  if (lengths.length + suites.length !== args.length) usage();
  const runs = Number(process.env.RUNS ?? 3);
  if (!Number.isInteger(runs) || runs < 1) usage();
  const wantLengths = lengths.length === 0 || lengths.includes('all') ? (['short', 'long'] as const) : (lengths as Array<'short' | 'long'>);
  for (const length of wantLengths) {
    const cases = CASES.filter((c) => suites.length === 0 || suites.includes(c.suite)).flatMap((c) =>
      BASE_TREE === undefined || c.name.endsWith(':node') ? [c] : [c, { ...c, name: c.name + BASE_SUFFIX, label: `${c.label}, the FACES_BASE tree` }],
    );
    const rounds: Record<string, number[]> = {};
    const cpuRounds: Record<string, number[]> = {};
    const mainRounds: Record<string, Array<number | null>> = {};
    const loads: number[] = [];
    for (const c of cases) {
      rounds[c.name] = [];
      cpuRounds[c.name] = [];
      mainRounds[c.name] = [];
    }
    const rateOf = (c: Case, amount: number, s: number): number => (c.suite === 'bulk' ? (amount * 8) / s / 1e9 : amount / s);
    for (let r = 0; r < runs; r++) {
      loads.push(loadavg()[0]!);
      // With FACES_BASE, each case and its @base twin swap places every other round.
      const order = r % 2 === 0 ? cases : cases.map((c, i) => (c.name.endsWith(BASE_SUFFIX) ? cases[i - 1]! : cases[i + 1]?.name.endsWith(BASE_SUFFIX) ? cases[i + 1]! : c));
      for (const c of order) {
        const amount = SIZES[length][c.suite];
        const took = runChild(c.name, amount);
        const rate = rateOf(c, amount, took.seconds);
        rounds[c.name]!.push(rate);
        cpuRounds[c.name]!.push(rateOf(c, amount, took.cpuSeconds));
        mainRounds[c.name]!.push(took.mainCpuSeconds === null ? null : rateOf(c, amount, took.mainCpuSeconds));
        const main = took.mainCpuSeconds === null ? '' : `, ${took.mainCpuSeconds.toFixed(3)} s on the main thread`;
        console.log(`${length} round ${r + 1}: ${c.name.padEnd(16)} ${rate.toFixed(c.suite === 'bulk' ? 2 : 0)} ${c.suite === 'bulk' ? 'Gbit/s' : 'conns/s'}, ${took.cpuSeconds.toFixed(3)} s CPU${main}  (${c.label})`);
      }
    }
    const rows = cases.map((c) => {
      const rates = rounds[c.name]!;
      const base = rounds[`${c.suite}:node`];
      const ratios = base ? rates.map((x, i) => x / base[i]!) : [];
      const perCpu = cpuRounds[c.name]!;
      const cpuBase = cpuRounds[`${c.suite}:node`];
      const cpuRatios = cpuBase ? perCpu.map((x, i) => x / cpuBase[i]!) : [];
      const perMain = mainRounds[c.name]!;
      const mainBase = mainRounds[`${c.suite}:node`];
      const mainRatios = mainBase && perMain.every((x, i) => x !== null && mainBase[i] !== null) ? perMain.map((x, i) => x! / mainBase[i]!) : [];
      return {
        case: c.name,
        label: c.label,
        unit: c.suite === 'bulk' ? 'Gbit/s' : 'connections/s',
        amount: SIZES[length][c.suite],
        rates,
        median: median(rates),
        ratio_to_node_same_round: ratios,
        ratio_median: ratios.length ? median(ratios) : null,
        // The same work per second of CPU (user + system, so Node's loopback in the host kernel counts too).
        per_cpu_second: perCpu,
        cpu_ratio_to_node_same_round: cpuRatios,
        cpu_ratio_median: cpuRatios.length ? median(cpuRatios) : null,
        // The same per second of the main thread's CPU alone (V8's compiler and GC threads left out).
        per_main_thread_cpu_second: perMain,
        main_thread_cpu_ratio_to_node_same_round: mainRatios,
        main_thread_cpu_ratio_median: mainRatios.length ? median(mainRatios) : null,
      };
    });
    // Same-pair comparisons the issue asks for: shmif net vs shmif sys.
    const ratioOf = (x: string, y: string): { wall: number[]; cpu: number[] } | null =>
      rounds[x] && rounds[y]
        ? { wall: rounds[x]!.map((v, i) => v / rounds[y]![i]!), cpu: cpuRounds[x]!.map((v, i) => v / cpuRounds[y]![i]!) }
        : null;
    const file = join(resultsDir, `faces-${length}${BASE_TREE !== undefined ? '-ab' : ''}.json`);
    let previous: unknown = null;
    try {
      previous = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      // first run
    }
    const out = {
      length,
      runs,
      write_bytes: CHUNK,
      command: `${DIST ? 'BENCH_DIST=1 ' : ''}${BASE_TREE !== undefined ? `FACES_BASE=${BASE_TREE} ` : ''}RUNS=${runs} node --import=tsx bench/faces.ts ${length}${suites.length ? ' ' + suites.join(' ') : ''}`,
      kernel_from: DIST ? 'dist/ (tsc build)' : 'sources through tsx',
      date: new Date().toISOString(),
      machine: `${process.platform} ${process.arch}, node ${process.version}, ${cpus().length} CPUs`,
      load_average_at_each_round: loads,
      rows,
      shmif_net_to_shmif_sys: { bulk: ratioOf('bulk:shmif-net', 'bulk:shmif-sys'), conns: ratioOf('conns:shmif-net', 'conns:shmif-sys') },
      lo0_net_to_lo0_sys: { bulk: ratioOf('bulk:lo0-net', 'bulk:lo0-sys'), conns: ratioOf('conns:lo0-net', 'conns:lo0-sys') },
    };
    // Keep the other suite's rows when only one was run.
    if (suites.length === 1 && previous && typeof previous === 'object' && 'rows' in previous) {
      const keep = (previous as { rows: Array<{ case: string }> }).rows.filter((r) => !r.case.startsWith(suites[0]! + ':'));
      out.rows = [...keep, ...out.rows] as typeof out.rows;
    }
    writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
    console.log(`${length}: ${file}`);
    for (const r of rows) {
      console.log(`  ${r.case.padEnd(16)} median ${r.median.toFixed(r.unit === 'Gbit/s' ? 2 : 0)} ${r.unit}, ×node ${r.ratio_median?.toFixed(2)} (per CPU second ×node ${r.cpu_ratio_median?.toFixed(2)}, per main-thread CPU second ×node ${r.main_thread_cpu_ratio_median?.toFixed(2)})`);
    }
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
