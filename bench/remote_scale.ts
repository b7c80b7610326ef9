/*
 * Servers at scale through a remote kernel (issue 9 item 10, under the
 * hijack): an app that reaches its kernel through `rumpClient` (what
 * `--import rumpnet/hijack` runs on) holds N idle connections, beside the
 * same kernel and the same work in one process, in the same run.
 *
 *   remote:      a rump_server process (a child: kernel + sysproxy server) and
 *                this process, the app: `c.net.createServer` on the served
 *                kernel, reading every accepted socket (an echo server).
 *                The clients are N `kernel.sys` sockets of the server's own
 *                kernel (over its lo0), opened 256 at a time, each connect
 *                blocking until established.
 *   in-process:  a child with the same kernel, the same clients, and the same
 *                echo server through that kernel's `kernel.net`.
 *
 * Figures: time from the first connect until the app has accepted all N;
 * heap per connection (heapUsed deltas after forced collections, over N) in
 * the server process and in the app process, against the in-process
 * child's heap per connection (its kernel holds both ends as the server
 * process's does); a 4-byte echo on 100 connections spread across the set
 * while all are open (ms per round trip). 100,000 connections to one port
 * need several client addresses (an unbound connect takes an ephemeral port
 * no other socket holds), so clients bind 127.0.0.2, .3, ...
 *
 * Run:  node --expose-gc --import=tsx bench/remote_scale.ts      (N=100000 by default)
 *       N=20000 node --expose-gc --import=tsx bench/remote_scale.ts
 * Results: bench/results/remote_scale.json
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { AF_INET, SOCK_STREAM, rumpClient, rumpInit, type RumpKernel } from '../index.js';
import { startRumpServer } from '../sysproxy/server.js';
import { createNodeHost } from '../hypercall/node.js';
import type { NetModule } from '../net/node/net.js';

const here = dirname(fileURLToPath(import.meta.url));
const PORT = 7100;
const WINDOW = 256;
/** Clients per client address: under the 16,384 ephemeral ports of one address. */
const PER_ADDR = 15_000;
const SAMPLES = 100;
const host = createNodeHost();
const say = (s: string): void => void process.stderr.write(`remote_scale: ${s}\n`);

function usage(): never {
  process.stderr.write('usage: bench/remote_scale.ts [serve | inproc]   (N=count in the environment)\n');
  process.exit(1);
}

const N = (() => {
  const v = process.env['N'] ?? '100000';
  if (!/^\d+$/.test(v) || Number(v) < SAMPLES) usage();
  return Number(v);
})();

async function collect(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    process.stderr.write('bench/remote_scale.ts: run node with --expose-gc (heap figures need forced collections)\n');
    process.exit(1);
  }
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise<void>((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

const KERNEL = { components: ['net', 'net_net', 'net_netinet'], env: {} } as const;

/**
 * `count` more client sockets of `k` connected to 127.0.0.1:PORT, all at
 * once, appended to `fds`. Callers open WINDOW at a time and wait for the
 * server to accept them before the next batch, so the listen queue never
 * overflows (an overflowing queue drops connections the client believes
 * established).
 */
async function openClients(k: RumpKernel, fds: number[], count: number): Promise<void> {
  const s = k.sys;
  const from = fds.length;
  await Promise.all(Array.from({ length: count }, async (_, j) => {
    const i = from + j;
    const fd = await s.socket(AF_INET, SOCK_STREAM);
    await s.bind(fd, { family: AF_INET, addr: `127.0.${Math.floor(i / PER_ADDR / 250)}.${2 + (Math.floor(i / PER_ADDR) % 250)}`, port: 0 });
    await s.connect(fd, { family: AF_INET, addr: '127.0.0.1', port: PORT });
    fds.push(fd);
  }));
  if (Math.floor(fds.length / 10_000) > Math.floor(from / 10_000)) say(`${fds.length} connected`);
}

/** A 4-byte echo on SAMPLES of `fds` spread across the set: ms per round trip. */
async function echoSample(k: RumpKernel, fds: number[]): Promise<number> {
  const step = Math.floor(fds.length / SAMPLES);
  const ping = Uint8Array.of(1, 2, 3, 4);
  const t0 = host.now();
  for (let i = 0; i < SAMPLES; i++) {
    const fd = fds[i * step]!;
    await k.sys.write(fd, ping);
    let got = 0;
    while (got < 4) {
      const d = await k.sys.read(fd, 4 - got);
      if (d.length === 0) throw new Error('echo: connection closed');
      got += d.length;
    }
  }
  return (host.now() - t0) / SAMPLES;
}

/** An echo server that counts what it accepted: the same code on a remote and a local kernel. */
function echoServer(net: NetModule): { accepted: () => number; listening: Promise<void>; close: () => void } {
  let count = 0;
  const sockets: Array<ReturnType<NetModule['connect']>> = [];
  const server = net.createServer((s) => {
    count++;
    sockets.push(s);
    s.on('data', (d: Buffer) => s.write(d));
    s.on('error', () => {});
  });
  const listening = new Promise<void>((r) => server.listen({ port: PORT, host: '127.0.0.1', backlog: 1024 }, () => r()));
  return {
    accepted: () => count,
    listening,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise<void>((r) => setImmediate(r));
}

/* ---------------------------------------------------------------- children */

/** The server process: a kernel served on a unix socket, driven by JSON lines on stdin. */
async function serve(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'remote-scale-'));
  const k = await rumpInit(KERNEL);
  const server = await startRumpServer(k, `unix://${join(dir, 'sock')}`);
  const fds: number[] = [];
  const reply = (v: unknown): void => void process.stdout.write(JSON.stringify(v) + '\n');
  reply({ url: server.url });
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line) as { cmd: string };
    if (cmd.cmd === 'heap') reply({ heap: await collect() });
    else if (cmd.cmd === 'open') {
      await openClients(k, fds, Math.min(WINDOW, N - fds.length));
      reply({ opened: fds.length });
    } else if (cmd.cmd === 'echo') reply({ ms: await echoSample(k, fds) });
    else if (cmd.cmd === 'quit') break;
  }
  await server.close();
  await k.halt();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

/** The baseline: the same kernel, clients and echo server in one process. */
async function inproc(): Promise<void> {
  const k = await rumpInit(KERNEL);
  const echo = echoServer(k.net);
  await echo.listening;
  const h0 = await collect();
  const t0 = host.now();
  const fds: number[] = [];
  while (fds.length < N) {
    await openClients(k, fds, Math.min(WINDOW, N - fds.length));
    await until(() => echo.accepted() === fds.length);
  }
  const seconds = (host.now() - t0) / 1000;
  const heap = (await collect()) - h0;
  const ms = await echoSample(k, fds);
  process.stdout.write(JSON.stringify({ seconds, heapPerConn: heap / N, ms }) + '\n');
  echo.close();
  await k.halt();
  process.exit(0);
}

/* ---------------------------------------------------------------- the app */

function child(mode: string): ChildProcess {
  return spawn(process.execPath, ['--expose-gc', '--max-old-space-size=8192', '--import=tsx', fileURLToPath(import.meta.url), mode], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: process.env,
  });
}

function lines(p: ChildProcess): () => Promise<Record<string, number | string>> {
  const queue: string[] = [];
  let wake: (() => void) | null = null;
  createInterface({ input: p.stdout! }).on('line', (l) => {
    queue.push(l);
    wake?.();
  });
  return async () => {
    while (queue.length === 0) await new Promise<void>((r) => (wake = r));
    wake = null;
    return JSON.parse(queue.shift()!) as Record<string, number | string>;
  };
}

async function remote(): Promise<{ seconds: number; serverPerConn: number; appPerConn: number; ms: number }> {
  const p = child('serve');
  const next = lines(p);
  const ask = async (cmd: string): Promise<Record<string, number | string>> => {
    p.stdin!.write(JSON.stringify({ cmd }) + '\n');
    return next();
  };
  const { url } = await next();
  const c = await rumpClient(url as string);
  const echo = echoServer(c.net);
  await echo.listening;
  const s0 = (await ask('heap'))['heap'] as number;
  const a0 = await collect();
  const t0 = host.now();
  for (let opened = 0; opened < N;) {
    opened = (await ask('open'))['opened'] as number;
    await until(() => echo.accepted() === opened);
  }
  const seconds = (host.now() - t0) / 1000;
  const s1 = (await ask('heap'))['heap'] as number;
  const a1 = await collect();
  const ms = (await ask('echo'))['ms'] as number;
  echo.close();
  await c.close();
  p.stdin!.write(JSON.stringify({ cmd: 'quit' }) + '\n');
  await new Promise((r) => p.once('exit', r));
  return { seconds, serverPerConn: (s1 - s0) / N, appPerConn: (a1 - a0) / N, ms };
}

async function local(): Promise<{ seconds: number; heapPerConn: number; ms: number }> {
  const p = child('inproc');
  const r = await lines(p)();
  await new Promise((res) => p.once('exit', res));
  return r as unknown as { seconds: number; heapPerConn: number; ms: number };
}

async function main(): Promise<void> {
  say(`${N} idle connections; load ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} CPUs`);
  const lo = process.env['SKIP_LOCAL'] === '1' ? { seconds: 1, heapPerConn: 1, ms: 1 } : await local();
  say(`in-process: ${N} accepted in ${lo.seconds.toFixed(2)} s, ${(lo.heapPerConn / 1024).toFixed(2)} KiB heap per connection, echo ${lo.ms.toFixed(3)} ms`);
  const re = await remote();
  say(`remote: ${N} accepted in ${re.seconds.toFixed(2)} s, server process ${(re.serverPerConn / 1024).toFixed(2)} KiB + app ${(re.appPerConn / 1024).toFixed(2)} KiB heap per connection, echo ${re.ms.toFixed(3)} ms`);
  const kib = (b: number): number => Math.round((b / 1024) * 100) / 100;
  const result = {
    connections: N,
    load: loadavg()[0],
    inProcess: { openSeconds: +lo.seconds.toFixed(2), heapPerConnKiB: kib(lo.heapPerConn), echoMs: +lo.ms.toFixed(3) },
    remote: {
      openSeconds: +re.seconds.toFixed(2), serverHeapPerConnKiB: kib(re.serverPerConn), appHeapPerConnKiB: kib(re.appPerConn), echoMs: +re.ms.toFixed(3),
    },
    ratios: {
      openTime: +(re.seconds / lo.seconds).toFixed(2),
      heap: +((re.serverPerConn + re.appPerConn) / lo.heapPerConn).toFixed(2),
      echo: +(re.ms / lo.ms).toFixed(2),
    },
  };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(join(here, 'results', 'remote_scale.json'), JSON.stringify(result, null, 2) + '\n');
}

const mode = process.argv[2];
if (mode === 'serve') await serve();
else if (mode === 'inproc') await inproc();
else if (mode === undefined) await main();
else usage();
