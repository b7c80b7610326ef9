/*
 * TCP benchmarks (issue 3), each beside Node's own `net` over the host's
 * loopback in the same run, so the ratios survive a noisy machine:
 *
 *   bulk:     one stream, measured the way iperf measures it: a writer
 *             keeps the connection full all along and each op is the time
 *             the reader takes to consume the next BULK_BYTES. Kernel A →
 *             kernel B over a shmif bus in one process (MTU 1500); one
 *             kernel to itself over lo0; Node net over 127.0.0.1. Writes
 *             are CHUNK bytes, reads READ_CHUNK (Node's net reads 64 KiB at
 *             a time). An op that instead wrote a block and waited for the
 *             reader to finish would also time the end of every block,
 *             where BSD's Nagle holds the last short segment until the ACK
 *             a BSD receiver delays (up to delacktime, 200 ms; Linux, under
 *             Node, sends that tail at once: Minshall's variant of Nagle).
 *             That is latency, not throughput, so it is left out here.
 *   conns:    connections per second: connect, 1-byte echo, end, wait for
 *             the peer's end (Node: for 'close'), one after another,
 *             CONN_BATCH of them per op, so the harness's own cost
 *             per op (a benny deferred, a promise) is spread over a batch and
 *             the figure is the stack's; over a shmif bus, over lo0, and
 *             Node net the same way.
 *   rr:       request/response round trips (64 bytes) on one connection.
 *   sequential: SEQ_CONNS connections in a row (default 100,000), counting
 *             stalls (a connection taking over STALL_MS): the stack we compared
 *             against hangs after about 256.
 *   idle:     memory per idle established connection with IDLE_CONNS (default
 *             10,000) open: kernel-accounted bytes (socket and packet buffers)
 *             and JS heap, per connection (both ends counted in one kernel
 *             pair, divided by 2 × IDLE_CONNS).
 *
 * Targets (issue 3): >= 1 Gbit/s over the shmif bus, lo0 at least Node's
 * loopback, >= 10,000 connections/s, <= 8 KiB per idle connection.
 *
 * Run: node --import=tsx bench/tcp.ts [suite ...]    (default: all)
 *      SEQ_CONNS=20000 IDLE_CONNS=1000 node --expose-gc --import=tsx bench/tcp.ts sequential idle
 * Results: bench/results/tcp-<suite>.json (benny) and bench/results/tcp.json.
 *
 * Wall time is read through the kernel's host (the hypercall clock), never
 * directly; benny measures its own suites.
 */
import b from 'benny';
import net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { AF_INET, SHUT_WR, SOCK_STREAM, SOL_SOCKET, SO_RCVBUF, SO_SNDBUF, rumpInit, type RumpKernel, type Sockaddr } from '../index.js';
import { SHMIF_ADDRS, resultsDir, shmifKernels } from './common.js';
const BULK_BYTES = 64 * 1024 * 1024;
/** Bytes per write, for both stacks. */
const CHUNK = 256 * 1024;
/**
 * Bytes per read: what Node's net hands a 'data' listener at most (libuv
 * reads 64 KiB at a time), so both stacks return their data in arrays of
 * the same size. Each read is a fresh array; bigger ones come straight
 * from mmap and fault their pages in while the data is copied.
 */
const READ_CHUNK = 64 * 1024;
const CONN_BATCH = 100;
const BUF = 2 * 1024 * 1024;
const RR_BYTES = 64;
const SEQ_CONNS = Number(process.env.SEQ_CONNS ?? 100_000);
const IDLE_CONNS = Number(process.env.IDLE_CONNS ?? 10_000);
const STALL_MS = 1000;
const PORT = 5001;

const sin = (addr: string, port: number): Sockaddr => ({ family: AF_INET, addr, port });

/* ------------------------------------------------------------------------ */
/* rumpnet side. */

interface Pair {
  /** Client and server kernels (the same kernel for lo0). */
  a: RumpKernel;
  b: RumpKernel;
  addr: string;
  halt(): Promise<void>;
}

async function shmifPair(): Promise<Pair> {
  const [a, bk] = await shmifKernels('rumpnet-bench-tcp-');
  return { a, b: bk, addr: SHMIF_ADDRS[1], halt: async () => void (await Promise.all([a.halt(), bk.halt()])) };
}

async function loPair(): Promise<Pair> {
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet'] });
  return { a: k, b: k, addr: '127.0.0.1', halt: () => k.halt() };
}

async function writeAll(k: RumpKernel, fd: number, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length; ) off += await k.sys.write(fd, data.subarray(off));
}

async function readExactly(k: RumpKernel, fd: number, n: number): Promise<void> {
  for (let got = 0; got < n; ) {
    const d = await k.sys.read(fd, Math.min(n - got, READ_CHUNK));
    if (d.length === 0) throw new Error(`end of file after ${got} of ${n} bytes`);
    got += d.length;
  }
}

async function listen(k: RumpKernel, port: number, buf = 0): Promise<number> {
  const fd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
  if (buf) await k.sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, buf);
  await k.sys.bind(fd, sin('0.0.0.0', port));
  await k.sys.listen(fd, 1024);
  return fd;
}

async function connect(k: RumpKernel, addr: string, port: number, buf = 0): Promise<number> {
  const fd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
  if (buf) await k.sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, buf);
  await k.sys.connect(fd, sin(addr, port));
  return fd;
}

/**
 * A stream from a to b that never pauses: a writer keeps a's send buffer
 * full; each op is b reading the next BULK_BYTES. Outside ops nobody reads,
 * so the window closes and the writer sleeps, as a paused iperf would.
 */
async function rumpBulk(p: Pair, port: number): Promise<{ op(): Promise<void>; close(): Promise<void> }> {
  const lfd = await listen(p.b, port, BUF);
  const acceptP = p.b.sys.accept(lfd);
  const cfd = await connect(p.a, p.addr, port, BUF);
  const { fd: sfd } = await acceptP;
  const chunk = new Uint8Array(CHUNK);
  let writing = true;
  const writer = (async () => {
    while (writing) await writeAll(p.a, cfd, chunk);
  })().catch(() => {});
  return {
    op: () => readExactly(p.b, sfd, BULK_BYTES),
    async close() {
      writing = false;
      await p.a.sys.close(cfd);
      await p.b.sys.close(sfd);
      await p.b.sys.close(lfd);
      await writer;
    },
  };
}

/** A server on b that echoes one byte per connection and closes first (its side keeps TIME_WAIT). */
async function rumpEchoServer(p: Pair, port: number): Promise<{ stop(): Promise<void> }> {
  const lfd = await listen(p.b, port);
  let running = true;
  void (async () => {
    while (running) {
      const r = await p.b.sys.accept(lfd).catch(() => null);
      if (r === null) return;
      void (async () => {
        const d = await p.b.sys.read(r.fd, 1);
        if (d.length) await p.b.sys.write(r.fd, d);
        await p.b.sys.close(r.fd);
      })().catch(() => {});
    }
  })();
  return {
    /** Close the listener; awaited before the kernel halts, so its close is not refused by a halted kernel. */
    async stop() {
      running = false;
      await p.b.sys.close(lfd);
    },
  };
}

const ONE = new Uint8Array([0x2a]);

/**
 * The same work as nodeOneConnection: connect, 1-byte echo, end (FIN), and
 * wait for the server's FIN before closing, as Node's client waits for
 * 'close' (which needs the peer's end too). Returning at close() right after
 * the echo, as this loop once did, skipped half the teardown the Node loop
 * waits for.
 */
async function rumpOneConnection(p: Pair, port: number): Promise<void> {
  const fd = await p.a.sys.socket(AF_INET, SOCK_STREAM, 0);
  await p.a.sys.connect(fd, sin(p.addr, port));
  await p.a.sys.write(fd, ONE);
  await readExactly(p.a, fd, 1);
  await p.a.sys.shutdown(fd, SHUT_WR);
  const eof = await p.a.sys.read(fd, 1);
  if (eof.length !== 0) throw new Error('echo: more than the echo before end of file');
  await p.a.sys.close(fd);
}

async function rumpConnections(p: Pair, port: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await rumpOneConnection(p, port);
}

/* ------------------------------------------------------------------------ */
/* Node's net over the host loopback: the baseline. */

function nodeServer(onConn: (s: net.Socket) => void): Promise<{ port: number; close(): void }> {
  return new Promise((resolve) => {
    const srv = net.createServer(onConn);
    srv.listen(0, '127.0.0.1', () => resolve({ port: (srv.address() as net.AddressInfo).port, close: () => srv.close() }));
  });
}

function nodeConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** The same shape as rumpBulk: a writer that never pauses, a reader that reads only during ops. */
async function nodeBulk(): Promise<{ op(): Promise<void>; close(): void }> {
  let received = 0;
  let waiter: (() => void) | null = null;
  let target = 0;
  let accepted: (s: net.Socket) => void = () => {};
  const readerP = new Promise<net.Socket>((r) => (accepted = r));
  const srv = await nodeServer((s) => {
    accepted(s);
    s.pause();
    s.on('data', (d: Buffer) => {
      received += d.length;
      if (waiter && received >= target) {
        s.pause();
        const w = waiter;
        waiter = null;
        w();
      }
    });
  });
  const c = await nodeConnect(srv.port);
  const chunk = Buffer.alloc(CHUNK);
  let writing = true;
  const pump = (): void => {
    while (writing && c.write(chunk));
  };
  c.on('drain', pump);
  c.on('error', () => {});
  pump();
  const reader = await readerP;
  return {
    op() {
      target = received + BULK_BYTES;
      const done = new Promise<void>((r) => (waiter = r));
      reader.resume();
      return done;
    },
    close() {
      writing = false;
      c.destroy();
      srv.close();
    },
  };
}

async function nodeEchoServer(): Promise<{ port: number; close(): void }> {
  return nodeServer((s) => {
    s.once('data', (d: Buffer) => s.end(d));
    s.on('error', () => {});
  });
}

function nodeOneConnection(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(ONE));
    s.once('data', () => {
      s.end();
      s.once('close', () => resolve());
    });
    s.once('error', reject);
  });
}

async function nodeConnections(port: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await nodeOneConnection(port);
}

/* ------------------------------------------------------------------------ */
/* Suites. */

type Summary = Record<string, unknown>;

interface BennyResult {
  results: Array<{ name: string; ops: number; details: { mean: number } }>;
}

/**
 * Operations per second from benny's mean time per op: its `ops` field is
 * rounded to the fewest digits that keep the cases apart (an integer, when
 * an op moves 64 MiB and runs a few times a second).
 */
function ops(r: BennyResult): number[] {
  return r.results.map((x) => 1 / x.details.mean);
}

async function bulkSuite(out: Summary): Promise<void> {
  const shm = await shmifPair();
  const lo = await loPair();
  const rs = await rumpBulk(shm, PORT);
  const rl = await rumpBulk(lo, PORT + 1);
  const nb = await nodeBulk();
  const r = (await b.suite(
    `tcp bulk, one stream kept full, ${BULK_BYTES / 1024 / 1024} MiB read per op`,
    b.add('rumpnet: kernel to kernel over a shmif bus (MTU 1500)', () => rs.op()),
    b.add('rumpnet: one kernel over lo0', () => rl.op()),
    b.add('node net over 127.0.0.1', () => nb.op()),
    b.cycle(),
    b.complete(),
    b.save({ file: 'tcp-bulk', folder: resultsDir, format: 'json' }),
  )) as unknown as BennyResult;
  const [shmOps, loOps, nodeOps] = ops(r) as [number, number, number];
  const mbps = (o: number): number => (o * BULK_BYTES * 8) / 1e6;
  out.bulk_mbit_per_second = {
    rumpnet_shmif: mbps(shmOps),
    rumpnet_lo0: mbps(loOps),
    node_net_loopback: mbps(nodeOps),
    ratio_shmif_to_node: shmOps / nodeOps,
    ratio_lo0_to_node: loOps / nodeOps,
    target: 'shmif >= 1000 Mbit/s; lo0 >= node',
  };
  await rs.close();
  await rl.close();
  nb.close();
  await shm.halt();
  await lo.halt();
}

async function connsSuite(out: Summary): Promise<void> {
  const shm = await shmifPair();
  const lo = await loPair();
  const srv = await rumpEchoServer(shm, PORT);
  const srvLo = await rumpEchoServer(lo, PORT + 1);
  const node = await nodeEchoServer();
  const r = (await b.suite(
    `tcp connections: connect, 1-byte echo, close; ${CONN_BATCH} in a row per op`,
    b.add('rumpnet: kernel to kernel over a shmif bus', () => rumpConnections(shm, PORT, CONN_BATCH)),
    b.add('rumpnet: one kernel over lo0', () => rumpConnections(lo, PORT + 1, CONN_BATCH)),
    b.add('node net over 127.0.0.1', () => nodeConnections(node.port, CONN_BATCH)),
    b.cycle(),
    b.complete(),
    b.save({ file: 'tcp-conns', folder: resultsDir, format: 'json' }),
  )) as unknown as BennyResult;
  const [shmOps, loOps, nodeOps] = ops(r) as [number, number, number];
  out.connections_per_second = {
    rumpnet_shmif: shmOps * CONN_BATCH,
    rumpnet_lo0: loOps * CONN_BATCH,
    node_net_loopback: nodeOps * CONN_BATCH,
    ratio_shmif_to_node: shmOps / nodeOps,
    ratio_lo0_to_node: loOps / nodeOps,
    connections_per_op: CONN_BATCH,
    target: '>= 10000',
  };
  await srv.stop();
  await srvLo.stop();
  node.close();
  await shm.halt();
  await lo.halt();
}

async function rrSuite(out: Summary): Promise<void> {
  const shm = await shmifPair();
  const lfd = await listen(shm.b, PORT);
  const acceptP = shm.b.sys.accept(lfd);
  const cfd = await connect(shm.a, shm.addr, PORT);
  const { fd: sfd } = await acceptP;
  let serving = true;
  void (async () => {
    while (serving) {
      const d = await shm.b.sys.read(sfd, RR_BYTES).catch(() => new Uint8Array(0));
      if (d.length === 0) return;
      await writeAll(shm.b, sfd, d);
    }
  })();
  const msg = new Uint8Array(RR_BYTES);
  const node = await nodeServer((s) => s.on('data', (d: Buffer) => s.write(d)));
  const nc = await nodeConnect(node.port);
  nc.setNoDelay(true);
  let nodeWaiter: (() => void) | null = null;
  let nodeGot = 0;
  nc.on('data', (d: Buffer) => {
    nodeGot += d.length;
    if (nodeGot >= RR_BYTES && nodeWaiter) {
      nodeGot -= RR_BYTES;
      const w = nodeWaiter;
      nodeWaiter = null;
      w();
    }
  });
  const r = (await b.suite(
    `tcp request/response, ${RR_BYTES} bytes each way`,
    b.add('rumpnet: over a shmif bus', async () => {
      await writeAll(shm.a, cfd, msg);
      await readExactly(shm.a, cfd, RR_BYTES);
    }),
    b.add('node net over 127.0.0.1', async () => {
      const done = new Promise<void>((res) => (nodeWaiter = res));
      nc.write(msg);
      await done;
    }),
    b.cycle(),
    b.complete(),
    b.save({ file: 'tcp-rr', folder: resultsDir, format: 'json' }),
  )) as unknown as BennyResult;
  const [rOps, nOps] = ops(r) as [number, number];
  out.request_response = {
    rumpnet_shmif_per_second: rOps,
    rumpnet_shmif_latency_us: 1e6 / rOps,
    node_net_loopback_per_second: nOps,
    node_net_loopback_latency_us: 1e6 / nOps,
    ratio: rOps / nOps,
  };
  serving = false;
  await shm.a.sys.shutdown(cfd, SHUT_WR);
  await shm.a.sys.close(cfd);
  await shm.b.sys.close(sfd);
  nc.destroy();
  node.close();
  await shm.halt();
}

async function sequentialSuite(out: Summary): Promise<void> {
  const shm = await shmifPair();
  const srv = await rumpEchoServer(shm, PORT);
  const host = shm.a.host;
  let stalls = 0;
  let worst = 0;
  let failed: string | null = null;
  const t0 = host.now();
  let n = 0;
  for (; n < SEQ_CONNS; n++) {
    const t = host.now();
    try {
      await rumpOneConnection(shm, PORT);
    } catch (e) {
      failed = `connection ${n}: ${(e as Error).message}`;
      break;
    }
    const dt = host.now() - t;
    if (dt > STALL_MS) stalls++;
    if (dt > worst) worst = dt;
  }
  const elapsed = host.now() - t0;
  out.sequential_connections = {
    requested: SEQ_CONNS,
    completed: n,
    stalls_over_ms: { [STALL_MS]: stalls },
    worst_ms: worst,
    per_second: (n / elapsed) * 1000,
    failed,
  };
  await srv.stop();
  await shm.halt();
}

/** A full collection, settled (needs node --expose-gc; otherwise the heap figure is noisier). */
async function collect(): Promise<boolean> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return false;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise<void>((r) => process.nextTick(r));
  }
  return true;
}

async function idleSuite(out: Summary): Promise<void> {
  // One kernel pair holds them all: kern.maxfiles and RLIMIT_NOFILE default
  // to 1,048,576 descriptors (kern/kernel.ts), a server's worth.
  const p = await shmifPair();
  const lfd = await listen(p.b, PORT);
  // Warm up: one connection opened and closed, so code, ARP and caches are in the baseline.
  {
    const acceptP = p.b.sys.accept(lfd);
    const c = await connect(p.a, p.addr, PORT);
    const { fd: s } = await acceptP;
    await p.a.sys.close(c);
    await p.b.sys.close(s);
  }
  const kernelUsed = (): number => p.a.mem.used + p.b.mem.used;
  const gcForced = await collect();
  const mem0 = kernelUsed();
  const heap0 = process.memoryUsage().heapUsed;
  const fds: Array<[number, number]> = [];
  for (let i = 0; i < IDLE_CONNS; i++) {
    const acceptP = p.b.sys.accept(lfd);
    const c = await connect(p.a, p.addr, PORT);
    const { fd: s } = await acceptP;
    fds.push([c, s]);
  }
  await collect();
  const kernelBytes = kernelUsed() - mem0;
  const heapBytes = process.memoryUsage().heapUsed - heap0;
  const ends = 2 * IDLE_CONNS;
  out.idle_connection_memory = {
    connections: IDLE_CONNS,
    kernel_bytes_per_end: kernelBytes / ends,
    js_heap_bytes_per_end: heapBytes / ends,
    js_heap_bytes_per_connection_both_ends: heapBytes / IDLE_CONNS,
    gc_forced: gcForced,
    target: '<= 8192 bytes per idle connection',
  };
  for (const [c, s] of fds) {
    await p.a.sys.close(c);
    await p.b.sys.close(s);
  }
  await p.halt();
}

const SUITES: Record<string, (out: Summary) => Promise<void>> = {
  bulk: bulkSuite,
  conns: connsSuite,
  rr: rrSuite,
  sequential: sequentialSuite,
  idle: idleSuite,
};

async function tcpWorks(): Promise<boolean> {
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet'] });
  try {
    await k.sys.close(await k.sys.socket(AF_INET, SOCK_STREAM, 0));
    return true;
  } catch {
    return false;
  } finally {
    await k.halt();
  }
}

async function main(): Promise<void> {
  if (!(await tcpWorks())) {
    console.error('bench/tcp.ts: this kernel has no TCP yet (socket(AF_INET, SOCK_STREAM) fails)');
    process.exit(2);
  }
  const wanted = process.argv.slice(2);
  const names = wanted.length ? wanted : Object.keys(SUITES);
  const file = join(resultsDir, 'tcp.json');
  let summary: Summary = {};
  try {
    summary = JSON.parse(readFileSync(file, 'utf8')) as Summary;
  } catch {
    // first run
  }
  for (const name of names) {
    const suite = SUITES[name];
    if (!suite) throw new Error(`unknown suite ${name} (have: ${Object.keys(SUITES).join(', ')})`);
    await suite(summary);
  }
  summary.date = new Date().toISOString();
  summary.machine = `${process.platform} ${process.arch}, node ${process.version}`;
  writeFileSync(file, JSON.stringify(summary, null, 2) + '\n');
  console.log(JSON.stringify(summary, null, 2));
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
