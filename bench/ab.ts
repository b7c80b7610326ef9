/*
 * A/B: two checkouts of rumpnet in ONE process, doing the same work round
 * by round, so a change to a hot path can be checked against the commit
 * before it on a machine shared with other work. Each round runs, on one
 * kernel of each tree (the order alternating between rounds):
 *
 *   sys bulk:  32 MiB over lo0 through kernel.sys, 256 KiB writes, 64 KiB reads;
 *   net bulk:  32 MiB over lo0 through kernel.net, 64 KiB writes honouring 'drain';
 *   net conns: 300 connections in a row through kernel.net (connect, 4-byte
 *              echo, end, wait for 'close').
 *
 * Figures: the median over rounds of (new / base), by wall time and by
 * this process's CPU time for the same work (user + system: what the code
 * costs, much less disturbed by other processes than wall time is). The
 * first round warms both trees up and is not counted.
 *
 * Run: node --import=tsx bench/ab.ts BASE_DIR NEW_DIR [ROUNDS]   (default 7 rounds)
 *   e.g. a base tree of the previous commit:
 *   mkdir /tmp/base && git archive HEAD~1 | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/ &&
 *   cp -r hypercall/native/build /tmp/base/hypercall/native/ && node --import=tsx bench/ab.ts /tmp/base .
 * Results: bench/results/ab.json.
 *
 * Wall time is read through the kernel's host (the hypercall clock).
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { resultsDir } from './common.js';

type Rump = typeof import('../index.js');
type Kernel = Awaited<ReturnType<Rump['rumpInit']>>;

function usage(): never {
  process.stderr.write('usage: bench/ab.ts BASE_DIR NEW_DIR [ROUNDS]\n');
  process.exit(1);
}

const [baseDir, newDir, roundsArg] = process.argv.slice(2);
if (baseDir === undefined || newDir === undefined || (roundsArg !== undefined && !/^[1-9]\d*$/.test(roundsArg))) usage();
const ROUNDS = roundsArg === undefined ? 7 : Number(roundsArg);
const BYTES = 32 * 1024 * 1024;
const CONNS = 300;

/** Bits per second from `bytes` in `ms`. */
const gbits = (bytes: number, ms: number): number => (bytes * 8) / ms / 1e6;

/** This process's CPU milliseconds since `from`. */
function cpuMs(from: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1000;
}

interface Figure {
  wall: number;
  cpu: number;
}

async function sysBulk(m: Rump, k: Kernel, port: number): Promise<Figure> {
  const { AF_INET, SOCK_STREAM, SOL_SOCKET, SO_RCVBUF, SO_SNDBUF } = m;
  const s = k.sys;
  const l = await s.socket(AF_INET, SOCK_STREAM, 0);
  await s.setsockopt(l, SOL_SOCKET, SO_RCVBUF, 2 << 20);
  await s.bind(l, { family: AF_INET, addr: '127.0.0.1', port });
  await s.listen(l, 16);
  const accepted = s.accept(l);
  const c = await s.socket(AF_INET, SOCK_STREAM, 0);
  await s.setsockopt(c, SOL_SOCKET, SO_SNDBUF, 2 << 20);
  await s.connect(c, { family: AF_INET, addr: '127.0.0.1', port });
  const { fd } = await accepted;
  const chunk = new Uint8Array(256 * 1024);
  const c0 = process.cpuUsage();
  const t0 = k.host.now();
  const writer = (async () => {
    for (let sent = 0; sent < BYTES; sent += chunk.length) {
      for (let off = 0; off < chunk.length; ) off += await s.write(c, chunk.subarray(off));
    }
  })();
  for (let got = 0; got < BYTES; ) got += (await s.read(fd, 64 * 1024)).length;
  const f = { wall: gbits(BYTES, k.host.now() - t0), cpu: gbits(BYTES, cpuMs(c0)) };
  await writer;
  await s.close(c);
  await s.close(fd);
  await s.close(l);
  return f;
}

async function netBulk(k: Kernel, port: number): Promise<Figure> {
  const srv = k.net.createServer();
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
  const chunk = Buffer.alloc(64 * 1024);
  const c0 = process.cpuUsage();
  const t0 = k.host.now();
  await new Promise<void>((done) => {
    srv.once('connection', (s) => {
      let got = 0;
      s.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= BYTES) {
          s.destroy();
          done();
        }
      });
    });
    const c = k.net.connect(port, '127.0.0.1', () => {
      let sent = 0;
      const pump = (): void => {
        while (sent < BYTES) {
          sent += chunk.length;
          if (!c.write(chunk)) {
            c.once('drain', pump);
            return;
          }
        }
        c.end();
      };
      pump();
    });
    c.on('error', () => {});
  });
  const f = { wall: gbits(BYTES, k.host.now() - t0), cpu: gbits(BYTES, cpuMs(c0)) };
  await new Promise<void>((r) => srv.close(() => r()));
  return f;
}

async function netConns(k: Kernel, port: number): Promise<Figure> {
  const srv = k.net.createServer((s) => {
    s.on('data', (d: Buffer) => s.write(d));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
  const c0 = process.cpuUsage();
  const t0 = k.host.now();
  for (let i = 0; i < CONNS; i++) {
    await new Promise<void>((done, fail) => {
      const c = k.net.connect(port, '127.0.0.1', () => c.write('ping'));
      c.on('data', () => c.end());
      c.on('error', fail);
      c.on('close', () => done());
    });
  }
  const f = { wall: (CONNS / (k.host.now() - t0)) * 1000, cpu: (CONNS / cpuMs(c0)) * 1000 };
  await new Promise<void>((r) => srv.close(() => r()));
  return f;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function main(): Promise<void> {
  const trees = [resolve(baseDir!), resolve(newDir!)];
  const mods = (await Promise.all(trees.map((d) => import(join(d, 'index.ts'))))) as Rump[];
  const ks = await Promise.all(mods.map((m) => m.rumpInit({ components: ['net', 'net_net', 'net_netinet'] })));
  const cases = ['sys bulk Gbit/s', 'net bulk Gbit/s', 'net conns /s'] as const;
  const got = cases.map(() => [[], []] as [Figure[], Figure[]]);
  let port = 6000;
  for (let round = 0; round <= ROUNDS; round++) {
    for (let n = 0; n < 2; n++) {
      const side = round % 2 === 0 ? n : 1 - n;
      const k = ks[side]!;
      const figs = [await sysBulk(mods[side]!, k, port++), await netBulk(k, port++), await netConns(k, port++)];
      if (round > 0) figs.forEach((f, i) => got[i]![side]!.push(f));
    }
  }
  const out = cases.map((name, i) => {
    const [b, n] = got[i]!;
    const row = (key: keyof Figure) => ({
      base: +median(b.map((f) => f[key])).toFixed(2),
      new: +median(n.map((f) => f[key])).toFixed(2),
      ratio: +median(b.map((f, r) => n[r]![key] / f[key])).toFixed(3),
    });
    return { case: name, wall: row('wall'), cpu: row('cpu') };
  });
  for (const r of out) {
    console.log(`${r.case.padEnd(16)} wall: base ${r.wall.base} new ${r.wall.new} (${r.wall.ratio})   ` +
      `per CPU second: base ${r.cpu.base} new ${r.cpu.new} (${r.cpu.ratio})`);
  }
  await Promise.all(ks.map((k) => k.halt()));
  writeFileSync(join(resultsDir, 'ab.json'), JSON.stringify({ node: process.version, base: trees[0], new: trees[1], rounds: ROUNDS, results: out }, null, 2) + '\n');
}

await main();
