/*
 * Memory caps in real time (issue 13 item 3): kernel B, capped by
 * RUMP_MEMLIMIT (default 1 MiB), serves a bulk stream from kernel A over a
 * shmif bus in this process. The stream's throughput is measured three
 * times in the same run, the same way: before any load (the baseline),
 * under load (four A→B streams whose reader on B stalls, four B→A streams
 * A reads, 300 more connections, and spoofed SYNs at 100,000/s from a
 * second process, bench/flood_syn.ts), and after the load has stopped and
 * everything closed. Beside each: B's peak accounted memory against the
 * cap, the ENOBUFS B's writers got, and the buffers B refused.
 *
 *   node --import=tsx bench/flood_mem.ts          (FLOOD_MEMLIMIT=1m, FLOOD_SECONDS=5)
 *
 * Results: bench/results/flood-mem.json.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

import { AF_INET, Errno, SOCK_STREAM, rumpInit, type RumpKernel } from '../index.js';
import { netstack } from '../net/netstack.js';
import { shmifSoftc } from '../shmif/if_shmem.js';
import { SHMIF_ADDRS, resultsDir } from './common.js';

const PORT = 5004;
const MEMLIMIT = process.env['FLOOD_MEMLIMIT'] ?? '1m';
const SECONDS = Number(process.env['FLOOD_SECONDS'] ?? 5);
const CHUNK = new Uint8Array(64 * 1024).fill(0x62);
const NOWHERE = { addr: '192.0.2.99', mac: '02:00:00:00:00:99' };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function kernels(): Promise<[RumpKernel, RumpKernel, string]> {
  const bus = join(mkdtempSync(join(tmpdir(), 'rumpnet-bench-floodmem-')), 'bus');
  const ks: RumpKernel[] = [];
  for (const [i, addr] of SHMIF_ADDRS.entries()) {
    const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_shmif'], env: i === 1 ? { RUMP_MEMLIMIT: MEMLIMIT } : {} });
    await k.netconfig.ifcreate('shmif0');
    await k.netconfig.ifsetlinkstr('shmif0', bus);
    await k.netconfig.ipv4IfaddrCidr('shmif0', addr, 24);
    ks.push(k);
  }
  return [ks[0]!, ks[1]!, bus];
}

/** Write until `stop()`, retrying after ENOBUFS (counted in `enobufs`); other errors end it. */
async function writer(k: RumpKernel, fd: number, stop: () => boolean, enobufs: { n: number }): Promise<void> {
  while (!stop()) {
    try {
      await k.sys.write(fd, CHUNK);
    } catch (e) {
      if (!(e instanceof Errno) || e.code !== 'ENOBUFS') return;
      enobufs.n++;
      await sleep(1);
    }
  }
}

/** Read until end of file or an error; the bytes read. */
async function reader(k: RumpKernel, fd: number, counter: { bytes: number }): Promise<void> {
  for (;;) {
    let d: Uint8Array;
    try {
      d = await k.sys.read(fd, 256 * 1024);
    } catch {
      return;
    }
    if (d.length === 0) return;
    counter.bytes += d.length;
  }
}

async function connectPair(a: RumpKernel, b: RumpKernel, lfd: number): Promise<{ cfd: number; sfd: number }> {
  const cfd = await a.sys.socket(AF_INET, SOCK_STREAM, 0);
  const accepted = b.sys.accept(lfd);
  await a.sys.connect(cfd, { family: AF_INET, addr: SHMIF_ADDRS[1], port: PORT });
  return { cfd, sfd: (await accepted).fd };
}

/** The measured stream: A writes, B reads, for SECONDS; MB/s. */
async function bulk(a: RumpKernel, b: RumpKernel, lfd: number): Promise<number> {
  const { cfd, sfd } = await connectPair(a, b, lfd);
  const got = { bytes: 0 };
  const t0 = performance.now();
  const done = (): boolean => performance.now() - t0 > SECONDS * 1000;
  const r = reader(b, sfd, got);
  await writer(a, cfd, done, { n: 0 });
  const secs = (performance.now() - t0) / 1000;
  const bytes = got.bytes;
  await a.sys.close(cfd);
  await r;
  await b.sys.close(sfd);
  return bytes / secs / 1e6;
}

const [a, b, bus] = await kernels();
await b.sys.ext('arpmsg', { type: 'add', addr: NOWHERE.addr, lladdr: NOWHERE.mac });
await b.sys.ext('rtmsg', { type: 'add', dst: 'default', gateway: NOWHERE.addr });
const lfd = await b.sys.socket(AF_INET, SOCK_STREAM, 0);
await b.sys.bind(lfd, { family: AF_INET, addr: SHMIF_ADDRS[1], port: PORT });
await b.sys.listen(lfd, 1024);
const cap = b.mem.limit;

const before = await bulk(a, b, lfd);
process.stdout.write(`before: ${before.toFixed(1)} MB/s\n`);

// The load.
b.mem.peak = b.mem.used;
const refused0 = b.mbufs.stats.drops;
let stopLoad = false;
const enobufs = { n: 0 };
const load: Array<Promise<unknown>> = [];
const fds: Array<[RumpKernel, number]> = [];
for (let i = 0; i < 8; i++) {
  const { cfd, sfd } = await connectPair(a, b, lfd);
  fds.push([a, cfd], [b, sfd]);
  if (i < 4) load.push(writer(a, cfd, () => stopLoad, { n: 0 })); // B does not read these
  else {
    load.push(writer(b, sfd, () => stopLoad, enobufs));
    load.push(reader(a, cfd, { bytes: 0 }));
  }
}
const accepting = (async () => {
  for (let i = 0; i < 300; i++) fds.push([b, (await b.sys.accept(lfd)).fd]);
})();
for (let i = 0; i < 300; i++) {
  const fd = await a.sys.socket(AF_INET, SOCK_STREAM, 0);
  fds.push([a, fd]);
  void a.sys.connect(fd, { family: AF_INET, addr: SHMIF_ADDRS[1], port: PORT }).catch(() => {});
}
const mac = [...netstack(b).ifs.get('shmif0')!.lladdr!].map((x) => x.toString(16).padStart(2, '0')).join(':');
const flood = spawn(process.execPath, ['--import=tsx', join(import.meta.dirname, 'flood_syn.ts'), bus, mac, SHMIF_ADDRS[1], String(PORT), '100000', String(SECONDS + 1)], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const floodLines = createInterface({ input: flood.stdout! })[Symbol.asyncIterator]();
await floodLines.next(); // ready
const during = await bulk(a, b, lfd);
const floodReport = JSON.parse(String((await floodLines.next()).value)) as { sent: number; seconds: number };
const peak = b.mem.peak;
const refused = b.mbufs.stats.drops - refused0;
const busLost = shmifSoftc(netstack(b).ifs.get('shmif0')!)!.stats.lost;
process.stdout.write(`under load: ${during.toFixed(1)} MB/s; B peak ${peak} of ${cap} bytes, ENOBUFS ${enobufs.n}, buffers refused ${refused}, ` +
  `SYNs ${floodReport.sent} at ${Math.round(floodReport.sent / floodReport.seconds)}/s\n`);

// The load stops: everything closes, B's memory comes back.
stopLoad = true;
for (const [k, fd] of fds) await k.sys.close(fd).catch(() => {});
await Promise.race([Promise.all(load), sleep(10_000)]);
await Promise.race([accepting, sleep(100)]);
for (let i = 0; i < 100 && b.mem.used > cap / 8; i++) await sleep(100);
const heldAfter = b.mem.used;
const after = await bulk(a, b, lfd);
process.stdout.write(`after: ${after.toFixed(1)} MB/s (x${(after / before).toFixed(2)} of before); B held ${heldAfter} bytes when it started\n`);
writeFileSync(join(resultsDir, 'flood-mem.json'), `${JSON.stringify({
  date: new Date().toISOString(), loadavg: loadavg(), memlimit: cap, seconds: SECONDS,
  mbPerSecond: { before, during, after }, afterOverBefore: after / before, duringOverBefore: during / before,
  peak, enobufs: enobufs.n, buffersRefused: refused, busLost, synsSent: floodReport.sent, heldAfter,
}, null, 2)}\n`);
await b.sys.close(lfd);
await a.halt();
await b.halt();
