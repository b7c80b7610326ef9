/*
 * The lab at scale (issue 11 item 3): N hosts behind a tree of routers in
 * one process, each opening a connection to a server across the tree, at
 * N = 10, 100 and 1,000 in the same run (how cost grows with N).
 *
 *   core ── dist (one per 10 access routers) ── access (one per 10 hosts) ── host
 *
 * Every host has a point-to-point link to its access router (what a switch
 * port gives it: each frame is delivered once); each access router a link
 * to its distribution router, each distribution router one to the core.
 * At N = 1,000: 100 access and 10 distribution routers and the core, 1,111
 * kernels, 1,110 links. Links have 1 ms of delay; the lab sets addresses
 * and routes. No capture (a pcapng of the run would be the heap's biggest
 * object).
 *
 * Each host runs an echo server on port 7 and connects to the host N/2
 * places further on (across the core from N = 200 on), writes 16 KiB, reads
 * it back and keeps the connection open.
 *
 * Figures per N:
 *   heap per idle host:   heapUsed after the network is built and quiet
 *                         (ARP announcements done), minus before, over N
 *                         (the routers' share included), and per kernel;
 *   the exchange:         wall seconds, virtual seconds, frames sent on all
 *                         links; simulated seconds per wall second, frames
 *                         per wall second, and frames per CPU second of
 *                         this process (what wall time would be on an
 *                         unshared core);
 *   heap per connection:  heapUsed with every connection open and idle,
 *                         minus the idle network's, over N connections
 *                         (each: a client socket, a listening server's
 *                         accepted socket, both kernels' TCBs).
 * Ratios: each N's frames per wall second and heap per host against N = 10's.
 * A first N = 10 run, not recorded, loads the code, so that the measured
 * heap is the network's.
 *
 * Run: node --expose-gc --import=tsx bench/lab.ts [N ...]      (default 10 100 1000)
 * Results: bench/results/lab-scale.json (with the command).
 *
 * Goals (issue 11): >= 100,000 frames per wall second at 1,000 hosts,
 * <= 100 KiB per idle host.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { createLab, type Lab, type LabHost } from '../lab/index.js';
import { resultsDir } from './common.js';

const FANOUT = 10;
const BYTES = 16 * 1024;
const PORT = 7;

function usage(): never {
  process.stderr.write('usage: node --expose-gc --import=tsx bench/lab.ts [hosts ...]\n');
  process.exit(1);
}

const sizes = process.argv.slice(2).map((s) => (/^\d+$/.test(s) && Number(s) >= 2 ? Number(s) : usage()));
if (sizes.length === 0) sizes.push(10, 100, 1000);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('bench/lab.ts: run node with --expose-gc (heap figures need forced collections)\n');
  process.exit(1);
}

async function heap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc!();
    await new Promise<void>((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

/** The tree: N hosts, their access routers, distribution routers, the core. */
function build(lab: Lab, n: number): { hosts: LabHost[]; kernels: number } {
  const core = lab.router('core');
  const hosts: LabHost[] = [];
  let access: LabHost | null = null;
  let dist: LabHost | null = null;
  let accessN = 0;
  let distN = 0;
  for (let i = 0; i < n; i++) {
    if (i % FANOUT === 0) {
      if (accessN % FANOUT === 0) {
        dist = lab.router(`dist${distN++}`);
        lab.link(dist, core, { delay: 1 });
      }
      access = lab.router(`access${accessN++}`);
      lab.link(access, dist!, { delay: 1 });
    }
    const h = lab.host(`h${i}`);
    lab.link(h, access!, { delay: 1 });
    hosts.push(h);
  }
  return { hosts, kernels: n + accessN + distN + 1 };
}

/** Frames every interface has sent so far. */
function framesSent(lab: Lab): number {
  let n = 0;
  for (const s of lab.segments) for (const h of s.hosts) n += s.faults(h).frames;
  return n;
}

interface Row {
  hosts: number;
  kernels: number;
  buildWallSeconds: number;
  heapPerIdleHostKiB: number;
  heapPerIdleKernelKiB: number;
  connections: number;
  exchangeWallSeconds: number;
  /** This process's CPU time (user + system) over the exchange: the wall figure under a loaded machine's sharing. */
  exchangeCpuSeconds: number;
  exchangeVirtualSeconds: number;
  framesSent: number;
  simSecondsPerWallSecond: number;
  framesPerWallSecond: number;
  framesPerCpuSecond: number;
  heapPerConnectionKiB: number;
  framesPerWallSecondRatioTo10?: number;
  heapPerIdleHostRatioTo10?: number;
}

async function scenario(n: number): Promise<Row> {
  const h0 = await heap();
  const tb = performance.now();
  const lab = createLab({ seed: 1, capture: false });
  const { hosts, kernels } = build(lab, n);
  await lab.run(5000); // routes installed, every interface's ARP announcement sent
  const buildWallSeconds = (performance.now() - tb) / 1000;
  const h1 = await heap();

  for (const h of hosts) h.net.createServer((s) => s.pipe(s)).listen(PORT);
  const payload = Buffer.alloc(BYTES, 0x61);
  const frames0 = framesSent(lab);
  const v0 = lab.now();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const conns = hosts.map((h, i) => {
    const peer = hosts[(i + Math.floor(n / 2)) % n]!;
    const c = h.net.connect(PORT, peer.address);
    const done = new Promise<void>((resolve, reject) => {
      let got = 0;
      c.on('data', (d: Buffer) => {
        got += d.length;
        if (got === BYTES) resolve();
      });
      c.once('error', reject);
    });
    c.write(payload);
    return { c, done };
  });
  await lab.runUntil(Promise.all(conns.map((x) => x.done)));
  const wall = (performance.now() - t0) / 1000;
  const cpuUsed = process.cpuUsage(c0);
  const cpu = (cpuUsed.user + cpuUsed.system) / 1e6;
  const virt = (lab.now() - v0) / 1000;
  const frames = framesSent(lab) - frames0;
  await lab.run(1000); // the last ACKs: every connection idle
  const h2 = await heap();

  for (const { c } of conns) c.destroy();
  await lab.halt();
  const row: Row = {
    hosts: n,
    kernels,
    buildWallSeconds: +buildWallSeconds.toFixed(3),
    heapPerIdleHostKiB: +((h1 - h0) / n / 1024).toFixed(1),
    heapPerIdleKernelKiB: +((h1 - h0) / kernels / 1024).toFixed(1),
    connections: n,
    exchangeWallSeconds: +wall.toFixed(3),
    exchangeCpuSeconds: +cpu.toFixed(3),
    exchangeVirtualSeconds: +virt.toFixed(3),
    framesSent: frames,
    simSecondsPerWallSecond: +(virt / wall).toFixed(2),
    framesPerWallSecond: Math.round(frames / wall),
    framesPerCpuSecond: Math.round(frames / cpu),
    heapPerConnectionKiB: +((h2 - h1) / n / 1024).toFixed(1),
  };
  return row;
}

// A first small run (not recorded) loads and compiles the code, so the
// first measured N's heap is the network's, not the modules'.
await scenario(10);

const rows: Row[] = [];
for (const n of sizes) {
  const r = await scenario(n);
  rows.push(r);
  console.log(
    `${String(n).padStart(5)} hosts (${r.kernels} kernels): built in ${r.buildWallSeconds}s, ` +
    `${r.heapPerIdleHostKiB} KiB/idle host (${r.heapPerIdleKernelKiB} KiB/kernel); ` +
    `${r.connections} connections x ${BYTES} B echoed: ${r.framesSent} frames in ${r.exchangeWallSeconds}s wall, ` +
    `${r.exchangeVirtualSeconds}s virtual = ${r.simSecondsPerWallSecond} sim s/wall s, ${r.framesPerWallSecond} frames/s ` +
    `(${r.framesPerCpuSecond} per CPU s); ` +
    `${r.heapPerConnectionKiB} KiB/connection`,
  );
}
const base = rows.find((r) => r.hosts === 10) ?? rows[0]!;
for (const r of rows) {
  r.framesPerWallSecondRatioTo10 = +(r.framesPerWallSecond / base.framesPerWallSecond).toFixed(2);
  r.heapPerIdleHostRatioTo10 = +(r.heapPerIdleHostKiB / base.heapPerIdleHostKiB).toFixed(2);
}
const command = `node --expose-gc --import=tsx bench/lab.ts ${sizes.join(' ')}`;
const out = {
  command,
  node: process.version,
  note: 'N hosts behind a tree of routers (fan-out 10), one connection per host to the host N/2 further on, 16 KiB echoed; ratios against the first N (10). Same run, same machine.',
  goals: { framesPerWallSecondAt1000: 100_000, heapPerIdleHostKiB: 100 },
  rows,
};
writeFileSync(join(resultsDir, 'lab-scale.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(`bench/results/lab-scale.json (${command})`);
