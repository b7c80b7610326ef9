/*
 * SYN flood benchmark (issue 13 item 2), in real time. Two kernels in this
 * process on a shmif bus: B serves on :5002 ("hi", then end), A runs the
 * real clients, one new connection every CLIENT_EVERY_MS, each served when
 * "hi" and the end arrive within CLIENT_DEADLINE_MS. A second process
 * (bench/flood_syn.ts) writes spoofed SYNs onto the same bus at FLOOD_RATE
 * per second. B's SYN-ACKs to the spoofed sources go to a gateway that does
 * not exist (a static ARP entry), so nobody answers them, as on the
 * Internet.
 *
 * Every case runs twice in the same run, the same clients the same way:
 * once without the flood (the baseline) and once under it; the figures are
 * the served fraction and connect latency of each and their ratio, with B's
 * SYN cache, cookies, accounted memory and JS heap before and after. The
 * clients go through `kernel.net` (what a Node program uses) and, beside
 * it, `kernel.sys` (the BSD calls).
 *
 *   node --expose-gc --import=tsx bench/flood.ts
 *   FLOOD_RATE=100000 FLOOD_SECONDS=5 node --expose-gc --import=tsx bench/flood.ts
 *
 * Results: bench/results/flood.json.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

import { AF_INET, SOCK_STREAM, type RumpKernel } from '../index.js';
import { inet } from '../net/inet/inet.js';
import { netstack } from '../net/netstack.js';
import { shmifSoftc } from '../shmif/if_shmem.js';
import { SHMIF_ADDRS, resultsDir, shmifKernels } from './common.js';

const PORT = 5002;
const RATE = Number(process.env['FLOOD_RATE'] ?? 100_000);
const SECONDS = Number(process.env['FLOOD_SECONDS'] ?? 5);
const CLIENT_EVERY_MS = 10;
const CLIENT_DEADLINE_MS = 3000;
/** The gateway B sends to the spoofed sources through: a MAC on no interface. */
const NOWHERE = { addr: '192.0.2.99', mac: '02:00:00:00:00:99' };

type Face = 'net' | 'sys';

interface Phase {
  face: Face;
  flood: boolean;
  clients: number;
  served: number;
  /** Median and 99th percentile connect-to-end latency of the served ones (ms). */
  p50: number;
  p99: number;
  /** Spoofed SYNs written onto the bus, and how fast. */
  synsSent: number;
  synRate: number;
  /** What B saw: SYN cache adds, cookies sent and taken, frames lost to a lapped reader. */
  scAdded: number;
  cookiesSent: number;
  cookiesTaken: number;
  /** SYNs B handled per second (an entry or a cookie each): the rest were lost on the bus, as on a NIC's full ring. */
  synsHandledPerSec: number;
  busLost: number;
  cacheAtEnd: number;
  /** B's accounted memory (RUMP_MEMLIMIT's account) and this process's JS heap, before and after (bytes). */
  memBefore: number;
  memAfter: number;
  heapBefore: number;
  heapAfter: number;
}

function heap(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One client through Node's face: connect, read to the end. Resolves with its latency (ms) or -1. */
function netClient(a: RumpKernel, addr: string): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let got = '';
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(ok ? performance.now() - t0 : -1);
    };
    const s = a.net.connect(PORT, addr);
    const timer = setTimeout(() => finish(false), CLIENT_DEADLINE_MS);
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('end', () => finish(got === 'hi'));
    s.on('error', () => finish(false));
  });
}

/** The same through the BSD calls. */
async function sysClient(a: RumpKernel, addr: string): Promise<number> {
  const t0 = performance.now();
  const fd = await a.sys.socket(AF_INET, SOCK_STREAM, 0);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<number>((r) => (timer = setTimeout(() => r(-1), CLIENT_DEADLINE_MS)));
  const work = (async (): Promise<number> => {
    await a.sys.connect(fd, { family: AF_INET, addr, port: PORT });
    let got = '';
    for (;;) {
      const d = await a.sys.read(fd, 16);
      if (d.length === 0) break;
      got += Buffer.from(d).toString();
    }
    return got === 'hi' ? performance.now() - t0 : -1;
  })().catch(() => -1);
  const r = await Promise.race([work, deadline]);
  clearTimeout(timer);
  await a.sys.close(fd).catch(() => {});
  return r;
}

/** Start the attacker process; resolves once it has mapped the bus, with a promise of its report. */
async function startFlood(bus: string, mac: string): Promise<Promise<{ sent: number; seconds: number }>> {
  const child = spawn(process.execPath, ['--import=tsx', join(import.meta.dirname, 'flood_syn.ts'), bus, mac, SHMIF_ADDRS[1], String(PORT), String(RATE), String(SECONDS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const it = lines[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.value !== 'ready') throw new Error(`flood_syn: ${String(first.value)}`);
  return (async () => {
    const last = await it.next();
    return JSON.parse(String(last.value)) as { sent: number; seconds: number };
  })();
}

async function phase(a: RumpKernel, b: RumpKernel, bus: string, face: Face, flood: boolean): Promise<Phase> {
  const bi = inet(b);
  const st0 = { ...bi.tcpstat };
  const shmif = shmifSoftc(netstack(b).ifs.get('shmif0')!)!;
  const lost0 = shmif.stats.lost;
  const heapBefore = heap();
  const memBefore = b.mem.used;
  const mac = netstack(b).ifs.get('shmif0')!.lladdr!;
  const report = flood ? await startFlood(bus, [...mac].map((x) => x.toString(16).padStart(2, '0')).join(':')) : null;
  const t0 = performance.now();
  const clients: Array<Promise<number>> = [];
  while (performance.now() - t0 < SECONDS * 1000) {
    clients.push(face === 'net' ? netClient(a, SHMIF_ADDRS[1]) : sysClient(a, SHMIF_ADDRS[1]));
    await sleep(CLIENT_EVERY_MS);
  }
  const lat = await Promise.all(clients);
  const r = report ? await report : { sent: 0, seconds: 1 };
  const cacheAtEnd = bi.tcp!.syncache.size;
  // Let the SYN cache drain (entries time out) before the next phase.
  await sleep(200);
  const ok = lat.filter((x) => x >= 0).sort((x, y) => x - y);
  const st = bi.tcpstat;
  return {
    face,
    flood,
    clients: lat.length,
    served: ok.length,
    p50: ok[Math.floor(ok.length / 2)] ?? NaN,
    p99: ok[Math.floor(ok.length * 0.99)] ?? NaN,
    synsSent: r.sent,
    synRate: Math.round(r.sent / r.seconds),
    scAdded: st.sc_added - st0.sc_added,
    cookiesSent: st.sc_sendcookie - st0.sc_sendcookie,
    cookiesTaken: st.sc_recvcookie - st0.sc_recvcookie,
    synsHandledPerSec: Math.round((st.sc_added - st0.sc_added + st.sc_sendcookie - st0.sc_sendcookie + st.sc_dupesyn - st0.sc_dupesyn) / SECONDS),
    busLost: shmif.stats.lost - lost0,
    cacheAtEnd,
    memBefore,
    memAfter: b.mem.used,
    heapBefore,
    heapAfter: heap(),
  };
}

const [a, b] = await shmifKernels('rumpnet-bench-flood-');
await b.sys.ext('arpmsg', { type: 'add', addr: NOWHERE.addr, lladdr: NOWHERE.mac });
await b.sys.ext('rtmsg', { type: 'add', dst: 'default', gateway: NOWHERE.addr });
const server = b.net.createServer((s) => {
  s.on('error', () => {}); // a client that gave up resets: nothing to do
  s.end('hi');
});
await new Promise<void>((r) => server.listen(PORT, SHMIF_ADDRS[1], 1024, r));
const busPath = shmifSoftc(netstack(b).ifs.get('shmif0')!)!.map!.path;

const rows: Phase[] = [];
// Baselines first: the SYN cache a flood fills takes its entries' lifetime (about 45 s) to empty.
for (const flood of [false, true]) {
  for (const face of ['net', 'sys'] as const) {
    const p = await phase(a, b, busPath, face, flood);
    rows.push(p);
    process.stdout.write(`${face} ${flood ? `flood ${p.synRate}/s` : 'baseline'}: served ${p.served}/${p.clients}, p50 ${p.p50.toFixed(1)} ms, ` +
      `p99 ${p.p99.toFixed(1)} ms; B: handled ${p.synsHandledPerSec} SYN/s, cache ${p.cacheAtEnd}, cookies ${p.cookiesSent} sent ${p.cookiesTaken} taken, bus lost ${p.busLost}, ` +
      `mem ${p.memBefore} -> ${p.memAfter}, heap ${(p.heapBefore / 1e6).toFixed(1)} -> ${(p.heapAfter / 1e6).toFixed(1)} MB\n`);
  }
}
const ratios = (['net', 'sys'] as const).map((face) => {
  const base = rows.find((r) => r.face === face && !r.flood)!;
  const fl = rows.find((r) => r.face === face && r.flood)!;
  return {
    face,
    servedUnderFlood: fl.served / fl.clients,
    servedBaseline: base.served / base.clients,
    servedRatio: fl.served / fl.clients / (base.served / base.clients),
    p50Ratio: fl.p50 / base.p50,
    heapGrowthBytes: fl.heapAfter - fl.heapBefore,
  };
});
for (const r of ratios) {
  process.stdout.write(`${r.face}: served under flood ${(100 * r.servedUnderFlood).toFixed(1)} % vs ${(100 * r.servedBaseline).toFixed(1)} % baseline ` +
    `(ratio ${r.servedRatio.toFixed(3)}), median latency x${r.p50Ratio.toFixed(2)}, heap growth ${(r.heapGrowthBytes / 1e6).toFixed(2)} MB\n`);
}
writeFileSync(join(resultsDir, 'flood.json'), `${JSON.stringify({ date: new Date().toISOString(), loadavg: loadavg(), rate: RATE, seconds: SECONDS, clientEveryMs: CLIENT_EVERY_MS, deadlineMs: CLIENT_DEADLINE_MS, rows, ratios }, null, 2)}\n`);
server.close();
await a.halt();
await b.halt();
