/*
 * Remote faces (issue 9, item 2): bulk TCP through `rumpClient` — server and
 * client sockets on one kernel that a `rump_server` process serves over a
 * unix socket — beside the same kernel configuration in this process, in
 * the same run, through the same faces and with the same writes:
 *
 *   net one write     one write of BULK_BYTES, then end()
 *   net 64K writes    BULK_BYTES / 64 KiB writes made at once (no waiting for 'drain'), then end()
 *   net 64K waited    64 KiB writes, each after the last one's callback, then end()
 *   sys 64K           write(2) loop of 64 KiB / read(2) loop of 64 KiB, then shutdown
 *   dgram 1K          DGRAMS datagrams of 1 KiB through `dgram` over lo0, sent 32 at a
 *                     time, each batch once the receiver has all of it ('message'
 *                     events); datagrams per second (no loss: the batch fits the
 *                     receive buffer)
 *
 * An op is one transfer: from the first write until the receiving side has
 * read every byte and seen the end ('end' or read() returning 0), over a
 * fresh connection on the lo0 of the kernel. Every case runs once on both
 * sides unmeasured (warm-up), then ROUNDS times each, alternating remote and
 * in-process; the figure is the median.
 *
 * Run:  node --import=tsx bench/remote.ts           (BULK_MIB=64 ROUNDS=3 by default)
 * Results: bench/results/remote.json (Mbit/s and the remote/in-process ratios,
 * each remote row also against the in-process `sys 64K` row;
 * "linearity" is one write against 64 KiB writes, remotely: goal within 1.2×).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { AF_INET, SHUT_WR, SOCK_STREAM, rumpClient, rumpInit } from '../index.js';
import { createNodeHost } from '../hypercall/node.js';
import type { NetModule } from '../net/node/net.js';
import type { DgramModule } from '../net/node/dgram.js';
import type { RemoteSys } from '../sysproxy/client.js';

const here = dirname(fileURLToPath(import.meta.url));
const BULK = Number(process.env['BULK_MIB'] ?? 64) << 20;
const ROUNDS = Number(process.env['ROUNDS'] ?? 3);
const CHUNK = 64 << 10;
const LIBS = ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet'];
const host = createNodeHost();
const say = (s: string): void => void process.stderr.write(`remote bench: ${s}\n`);

type Mode = 'one' | 'many' | 'waited';

/** One transfer through a `net` face: a sink server, a client writing `mode`; ms until the sink saw 'end'. */
async function netTransfer(net: NetModule, port: number, payload: Buffer, mode: Mode): Promise<number> {
  let t0 = 0;
  let received = 0;
  const done = new Promise<void>((resolve, reject) => {
    const server = net.createServer((s) => {
      s.on('data', (d: Buffer) => (received += d.length));
      s.on('end', () => {
        s.end();
        server.close();
        resolve();
      });
      s.on('error', reject);
    });
    server.listen(port, '127.0.0.1', () => {
      const c = net.connect(port, '127.0.0.1', () => {
        t0 = host.now();
        if (mode === 'one') {
          c.end(payload);
        } else if (mode === 'many') {
          for (let off = 0; off < payload.length; off += CHUNK) c.write(payload.subarray(off, off + CHUNK));
          c.end();
        } else {
          let off = 0;
          const next = (): void => {
            if (off >= payload.length) {
              c.end();
              return;
            }
            const piece = payload.subarray(off, off + CHUNK);
            off += CHUNK;
            c.write(piece, next);
          };
          next();
        }
      });
      c.on('error', reject);
      c.resume();
    });
  });
  await done;
  const ms = host.now() - t0;
  if (received !== payload.length) throw new Error(`received ${received} of ${payload.length} bytes`);
  return ms;
}

/** The same through the BSD calls: a write loop and a read loop of 64 KiB. */
async function sysTransfer(sys: RemoteSys, port: number, payload: Uint8Array): Promise<number> {
  const sin = { family: AF_INET, addr: '127.0.0.1', port };
  const lfd = await sys.socket(AF_INET, SOCK_STREAM, 0);
  await sys.bind(lfd, sin);
  await sys.listen(lfd, 1);
  const cfd = await sys.socket(AF_INET, SOCK_STREAM, 0);
  const accepted = sys.accept(lfd);
  await sys.connect(cfd, sin);
  const { fd } = await accepted;
  const t0 = host.now();
  const writer = (async () => {
    for (let off = 0; off < payload.length; ) off += await sys.write(cfd, payload.subarray(off, Math.min(off + CHUNK, payload.length)));
    await sys.shutdown(cfd, SHUT_WR);
  })();
  let got = 0;
  for (;;) {
    const d = await sys.read(fd, CHUNK);
    if (d.length === 0) break;
    got += d.length;
  }
  await writer;
  const ms = host.now() - t0;
  await Promise.all([sys.close(fd), sys.close(cfd), sys.close(lfd)]);
  if (got !== payload.length) throw new Error(`read ${got} of ${payload.length} bytes`);
  return ms;
}

const DGRAMS = Number(process.env['DGRAMS'] ?? 20_000);
const DGRAM_BATCH = 32;

/** DGRAMS datagrams of 1 KiB from one `dgram` socket to another on lo0; ms until the last arrived. */
async function dgramTransfer(dgram: DgramModule, port: number): Promise<number> {
  const rx = dgram.createSocket('udp4');
  const tx = dgram.createSocket('udp4');
  let got = 0;
  let wake: (() => void) | null = null;
  rx.on('message', (m) => {
    if (m.length !== 1024) throw new Error(`datagram of ${m.length} bytes`);
    got++;
    wake?.();
  });
  await new Promise<void>((r) => rx.bind(port, '127.0.0.1', () => r()));
  await new Promise<void>((r) => tx.bind(0, '127.0.0.1', () => r()));
  const payload = Buffer.alloc(1024, 0x5a);
  const t0 = host.now();
  for (let sent = 0; sent < DGRAMS; ) {
    for (let i = 0; i < DGRAM_BATCH && sent < DGRAMS; i++, sent++) tx.send(payload, port, '127.0.0.1');
    while (got < sent) await new Promise<void>((r) => (wake = r));
    wake = null;
  }
  const ms = host.now() - t0;
  rx.close();
  tx.close();
  return ms;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mbits = (ms: number): number => Math.round((BULK * 8) / (ms / 1000) / 1e6);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-remote-bench-'));
  const url = `unix://${join(dir, 'sock')}`;
  execFileSync(process.execPath, [...process.execArgv, join(here, '..', 'bin', 'rump_server.ts'), ...LIBS, url], { stdio: 'inherit' });
  const remote = await rumpClient(url);
  const local = await rumpInit({ components: ['net', 'net_net', 'net_netinet'] });
  const payload = Buffer.alloc(BULK, 0x5a);
  // Figures from a busy machine are low (the remote side is three busy processes), and this says so.
  const loadBefore = loadavg()[0];
  const cases: Array<[string, (net: NetModule, sys: RemoteSys, port: number) => Promise<number>]> = [
    ['net one write', (n, _s, p) => netTransfer(n, p, payload, 'one')],
    ['net 64K writes', (n, _s, p) => netTransfer(n, p, payload, 'many')],
    ['net 64K waited', (n, _s, p) => netTransfer(n, p, payload, 'waited')],
    ['sys 64K', (_n, s, p) => sysTransfer(s, p, payload)],
  ];
  const rows: Record<string, { remoteMbits: number; localMbits: number; ratio: number }> = {};
  let port = 20000;
  let dgramRow: { remotePerSecond: number; remoteWithoutFeaturePerSecond: number; localPerSecond: number; ratio: number } | null = null;
  try {
    // One unmeasured transfer of every case on both sides first: the JIT and the
    // server process warm up on them, not on whichever case happens to run first
    // (measured cold, the first case's rounds were up to half again slower).
    for (const [, run] of cases) {
      await run(remote.net, remote.sys, port++);
      await run(local.net, local.sys, port++);
    }
    for (const [name, run] of cases) {
      const r: number[] = [];
      const l: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        r.push(await run(remote.net, remote.sys, port++));
        l.push(await run(local.net, local.sys, port++));
      }
      const rm = mbits(median(r));
      const lm = mbits(median(l));
      rows[name] = { remoteMbits: rm, localMbits: lm, ratio: Math.round((rm / lm) * 100) / 100 };
      say(`${name}: remote ${rm} Mbit/s, in-process ${lm} Mbit/s (${rows[name].ratio})`);
    }
    // The same client as an older server's would be (no `dgram` feature): poll + recvfrom per datagram.
    const older = await rumpClient(url);
    older.banner.features = ['stream'];
    const r: number[] = [];
    const o: number[] = [];
    const l: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      r.push(await dgramTransfer(remote.dgram, port++));
      o.push(await dgramTransfer(older.dgram, port++));
      l.push(await dgramTransfer(local.dgram, port++));
    }
    await older.close();
    const perSec = (ms: number): number => Math.round(DGRAMS / (ms / 1000));
    dgramRow = {
      remotePerSecond: perSec(median(r)), remoteWithoutFeaturePerSecond: perSec(median(o)), localPerSecond: perSec(median(l)),
      ratio: Math.round((median(l) / median(r)) * 100) / 100,
    };
    say(`dgram 1K: remote ${dgramRow.remotePerSecond}/s (poll + recvfrom: ${dgramRow.remoteWithoutFeaturePerSecond}/s), in-process ${dgramRow.localPerSecond}/s (${dgramRow.ratio})`);
  } finally {
    await remote.halt();
    await local.halt();
    rmSync(dir, { recursive: true, force: true });
  }
  // The remote faces against the in-process kernel's own BSD calls too: what an app gives up by being remote.
  const sysLocal = rows['sys 64K']!.localMbits;
  const toSys: Record<string, number> = {};
  for (const [name, row] of Object.entries(rows)) toSys[name] = Math.round((row.remoteMbits / sysLocal) * 100) / 100;
  say(`remote rows / in-process sys 64K: ${JSON.stringify(toSys)}`);
  const linearity = Math.round((rows['net 64K writes']!.remoteMbits / rows['net one write']!.remoteMbits) * 100) / 100;
  say(`remote linearity (64K writes / one write, goal within 1.2): ${linearity}`);
  const out = {
    bytes: BULK, rounds: ROUNDS, rows, remoteToInProcessSys: toSys, dgram1K: { datagrams: DGRAMS, ...dgramRow }, linearity, goal: 'one write and 64 KiB writes within 1.2x',
    load_average_1min: { before: loadBefore, after: loadavg()[0], cores: availableParallelism() },
  };
  writeFileSync(join(here, 'results', 'remote.json'), `${JSON.stringify(out, null, 2)}\n`);
}

await main();
