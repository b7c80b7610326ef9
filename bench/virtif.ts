/*
 * virtif benchmarks (benny): frames per second in and out over a Linux TAP
 * device, beside Linux to Linux over a veth pair measured in the same run.
 * Needs root; run: node --import=tsx bench/virtif.ts
 *
 *   namespace A (this process)                          namespace B (helper)
 *   Linux 10.199.0.1 tun0 ══TAP══ virt0 10.199.0.2 (rump kernel: UDP socket)
 *   Linux 10.199.2.1 rbt1 ══TAP══ openTap('rbt1') (the hypercall alone, no stack)
 *   Linux 10.199.3.1 rbt2 ══TAP══ tapOpen(…, perFrame) (one JS call per frame)
 *   Linux 10.199.1.1 rbv0 ══════ veth ══════ rbv1 10.199.1.2 Linux UDP socket
 *
 * The process re-runs itself inside namespace A (`ip netns exec`); B's
 * socket is bound by a helper process there and handed over through the IPC
 * channel, so one process drives every path. Both namespaces are removed at
 * the end; every address is inside them and no frame leaves them.
 *
 * Each op is a batch of 64 UDP datagrams of 64 bytes, sent and all received:
 *   in:  Linux dgram → TAP → kernel recv      vs  Linux dgram → veth → Linux dgram
 *   out: kernel send → TAP → Linux dgram      vs  the same veth, the other way
 *   tap: the hypercall's own rate, without the rump kernel's stack:
 *        in, Linux dgram → TAP → onFrames once per wake-up (what the driver
 *        uses) vs once per frame inside one handle scope; out, write ×64 and
 *        one flush, the frames counted by Linux (rx_packets) and dropped
 *
 * Results: bench/results/virtif-{in,out,tap-in,tap-out}.json (benny) and
 * bench/results/virtif-summary.json (frames per second and the ratios).
 */
import b from 'benny';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { rumpInit, AF_INET, SOCK_DGRAM } from '../index.js';
import { createNodeHost, nativeAddon } from '../hypercall/node.js';
import type { TapBatch } from '../hypercall/types.js';

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, 'results');
const BATCH = 64;
const PAYLOAD = new Uint8Array(64);
const NS_ENV = 'RUMPNET_BENCH_NS';

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

/**
 * Outside the namespace: make A and B, run this file inside A, remove both,
 * also when interrupted (SIGINT, SIGTERM are passed on to the run inside).
 */
function outside(): void {
  if (process.getuid?.() !== 0) {
    console.error('bench/virtif.ts needs root (network namespaces and TAP devices)');
    process.exit(1);
  }
  const a = `rumpnet-bench-${process.pid}-a`;
  const bns = `rumpnet-bench-${process.pid}-b`;
  const cleanup = (): void => {
    for (const ns of [a, bns]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not made, or already gone
      }
    }
  };
  try {
    for (const ns of [a, bns]) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    ip('link', 'add', 'rbv0', 'netns', a, 'type', 'veth', 'peer', 'name', 'rbv1', 'netns', bns);
    ip('-n', a, 'addr', 'add', '10.199.1.1/24', 'dev', 'rbv0');
    ip('-n', a, 'link', 'set', 'rbv0', 'up');
    ip('-n', bns, 'addr', 'add', '10.199.1.2/24', 'dev', 'rbv1');
    ip('-n', bns, 'link', 'set', 'rbv1', 'up');
  } catch (e) {
    cleanup();
    throw e;
  }
  const child = spawn('ip', ['netns', 'exec', a, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: { ...process.env, [NS_ENV]: bns },
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code) => {
    cleanup();
    process.exit(code ?? 1);
  });
}

/** A UDP socket bound in namespace `ns` by a helper process, handed to us. */
async function socketIn(ns: string, addr: string, port: number): Promise<{ sock: dgram.Socket; helper: ChildProcess }> {
  const code =
    "const s = require('node:dgram').createSocket('udp4');" +
    // Closed here once sent: the helper must not read what the bench counts.
    `s.bind(${port}, ${JSON.stringify(addr)}, () => process.send('sock', s, () => s.close()));` +
    "process.on('disconnect', () => process.exit(0));";
  const helper = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const sock = await new Promise<dgram.Socket>((ok, fail) => {
    helper.once('message', (_m, handle) => ok(handle as dgram.Socket));
    helper.once('exit', () => fail(new Error('the helper exited before handing over its socket')));
  });
  return { sock, helper };
}

/** A counter that ops wait on: `until(n)` resolves once `count >= n`. */
class Counter {
  count = 0;
  private readonly waiters: Array<{ n: number; ok: () => void }> = [];
  add(k: number): void {
    this.count += k;
    for (let i = 0; i < this.waiters.length; ) {
      const w = this.waiters[i]!;
      if (this.count >= w.n) {
        this.waiters.splice(i, 1);
        w.ok();
      } else i++;
    }
  }
  until(n: number): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    return new Promise((ok) => this.waiters.push({ n, ok }));
  }
}

/** A UDP datagram in an Ethernet frame, UDP checksum 0 (none, RFC 768), for the raw TAP suite. */
function udpFrame(dstMac: number[], srcMac: number[], src: number[], dst: number[], sport: number, dport: number, payload: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + payload);
  const v = new DataView(f.buffer);
  f.set(dstMac, 0);
  f.set(srcMac, 6);
  v.setUint16(12, 0x0800);
  f[14] = 0x45;
  v.setUint16(16, 28 + payload);
  f[22] = 64;
  f[23] = 17;
  f.set(src, 26);
  f.set(dst, 30);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += v.getUint16(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  v.setUint16(24, ~sum & 0xffff);
  v.setUint16(34, sport);
  v.setUint16(36, dport);
  v.setUint16(38, 8 + payload);
  return f;
}

interface Row {
  name: string;
  ops: number;
}

const say = (s: string): void => void process.stderr.write(`virtif bench: ${s}\n`);

async function inside(nsB: string): Promise<void> {
  // --- veth baseline: a socket on each side.
  const { sock: farSock, helper } = await socketIn(nsB, '10.199.1.2', 9000);
  const nearSock = dgram.createSocket('udp4');
  await new Promise<void>((r) => nearSock.bind(9000, '10.199.1.1', r));
  const farGot = new Counter();
  const nearGot = new Counter();
  farSock.on('message', () => farGot.add(1));
  nearSock.on('message', () => nearGot.add(1));
  let farSent = 0;
  let nearSent = 0;

  say('veth sockets ready');
  // --- rump kernel on virt0 (tun0).
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_virtif'], env: {} });
  await k.netconfig.ifcreate('virt0');
  ip('addr', 'add', '10.199.0.1/24', 'dev', 'tun0');
  ip('link', 'set', 'tun0', 'up');
  await k.netconfig.ipv4IfaddrCidr('virt0', '10.199.0.2', 24);
  const ks = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await k.sys.bind(ks, { family: AF_INET, addr: '10.199.0.2', port: 9000 });
  await k.sys.connect(ks, { family: AF_INET, addr: '10.199.0.1', port: 9001 });
  const linuxTun = dgram.createSocket('udp4');
  await new Promise<void>((r) => linuxTun.bind(9001, '10.199.0.1', r));
  const kernelGot = new Counter();
  const linuxTunGot = new Counter();
  linuxTun.on('message', () => linuxTunGot.add(1));
  // One reader loop in the kernel, counting what its socket receives.
  void (async () => {
    for (;;) {
      try {
        await k.sys.recv(ks, 2048);
      } catch {
        return;
      }
      kernelGot.add(1);
    }
  })();
  say('kernel up');
  // Resolve each other before measuring.
  linuxTun.send(PAYLOAD, 9000, '10.199.0.2');
  await kernelGot.until(1);
  await k.sys.send(ks, PAYLOAD);
  await linuxTunGot.until(1);
  let toKernel = 1;
  let fromKernel = 1;

  say('primed');
  // --- the hypercall alone: rbt1 read in batches (as the driver does), rbt2
  // with one JS call per frame (the alternative the batch was chosen over).
  const host = createNodeHost();
  const rawIn = new Counter();
  const tap = host.openTap('rbt1', { onFrames: (batch: TapBatch) => rawIn.add(batch.count), onError: () => {} });
  const rawPerFrame = new Counter();
  const native = nativeAddon();
  const perFrameTap = native.tapOpen('rbt2', new ArrayBuffer(1 << 20), new ArrayBuffer(4096), () => rawPerFrame.add(1), true);
  const linuxRaw: dgram.Socket[] = [];
  for (const [dev, net] of [['rbt1', 2], ['rbt2', 3]] as const) {
    ip('addr', 'add', `10.199.${net}.1/24`, 'dev', dev);
    ip('link', 'set', dev, 'up');
    ip('neigh', 'replace', `10.199.${net}.2`, 'lladdr', '02:00:5e:10:20:31', 'dev', dev, 'nud', 'permanent');
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(9002, `10.199.${net}.1`, r));
    linuxRaw.push(sock);
  }
  tap.readStart();
  native.tapReadStart(perFrameTap.handle);
  // Written frames go to a MAC that is not rbt1's: Linux takes each one off
  // the TAP and drops it at once, so `out` measures write and flush alone.
  const frame = udpFrame([0x02, 0x00, 0x5e, 0x10, 0x20, 0x32], [0x02, 0x00, 0x5e, 0x10, 0x20, 0x31], [10, 199, 2, 2], [10, 199, 2, 1], 9003, 9002, PAYLOAD.length);
  const rxPackets = (): number => Number(readFileSync('/sys/class/net/rbt1/statistics/rx_packets', 'utf8'));
  const rxBefore = rxPackets();
  let rawSentIn = 0;
  let rawSentPerFrame = 0;
  let rawSentOut = 0;
  let refused = 0;

  const suiteIn = await b.suite(
    `virtif in: UDP datagrams into a host (batch of ${BATCH} per op)`,
    b.add('rumpnet: Linux → TAP → virt0 → kernel socket', async () => {
      toKernel += BATCH;
      const target = toKernel;
      for (let i = 0; i < BATCH; i++) linuxTun.send(PAYLOAD, 9000, '10.199.0.2');
      await kernelGot.until(target);
    }),
    b.add('Linux: veth → Linux socket', async () => {
      farSent += BATCH;
      const target = farSent;
      for (let i = 0; i < BATCH; i++) nearSock.send(PAYLOAD, 9000, '10.199.1.2');
      await farGot.until(target);
    }),
    b.cycle(),
    b.complete(),
    b.save({ file: 'virtif-in', folder: resultsDir, format: 'json' }),
  );

  const suiteOut = await b.suite(
    `virtif out: UDP datagrams out of a host (batch of ${BATCH} per op)`,
    b.add('rumpnet: kernel socket → virt0 → TAP → Linux', async () => {
      fromKernel += BATCH;
      const target = fromKernel;
      for (let i = 0; i < BATCH; i++) await k.sys.send(ks, PAYLOAD);
      await linuxTunGot.until(target);
    }),
    b.add('Linux: Linux socket → veth', async () => {
      nearSent += BATCH;
      const target = nearSent;
      for (let i = 0; i < BATCH; i++) farSock.send(PAYLOAD, 9000, '10.199.1.1');
      await nearGot.until(target);
    }),
    b.cycle(),
    b.complete(),
    b.save({ file: 'virtif-out', folder: resultsDir, format: 'json' }),
  );

  const suiteTapIn = await b.suite(
    `TAP hypercall alone, in: frames from Linux (batch of ${BATCH} per op)`,
    b.add('Linux → TAP → onFrames, one JS call per wake-up', async () => {
      rawSentIn += BATCH;
      const target = rawSentIn;
      for (let i = 0; i < BATCH; i++) linuxRaw[0]!.send(PAYLOAD, 9003, '10.199.2.2');
      await rawIn.until(target);
    }),
    b.add('Linux → TAP → one JS call per frame', async () => {
      rawSentPerFrame += BATCH;
      const target = rawSentPerFrame;
      for (let i = 0; i < BATCH; i++) linuxRaw[1]!.send(PAYLOAD, 9003, '10.199.3.2');
      await rawPerFrame.until(target);
    }),
    b.cycle(),
    b.complete(),
    b.save({ file: 'virtif-tap-in', folder: resultsDir, format: 'json' }),
  );

  const suiteTapOut = await b.suite(
    `TAP hypercall alone, out: frames to Linux (batch of ${BATCH} per op)`,
    b.add('write ×64, one flush', () => {
      rawSentOut += BATCH;
      for (let i = 0; i < BATCH; i++) tap.write(frame, 0, frame.length);
      refused += tap.flush();
    }),
    b.cycle(),
    b.complete(),
    b.save({ file: 'virtif-tap-out', folder: resultsDir, format: 'json' }),
  );
  const delivered = rxPackets() - rxBefore;
  if (refused !== 0 || delivered !== rawSentOut) throw new Error(`TAP out: ${rawSentOut} written, ${refused} refused, ${delivered} counted by Linux`);

  const rows = (s: { results: Row[] }): Row[] => s.results.map((r) => ({ name: r.name, ops: r.ops }));
  const [ri, vi] = rows(suiteIn);
  const [ro, vo] = rows(suiteOut);
  const [tb, tf] = rows(suiteTapIn);
  const [tw] = rows(suiteTapOut);
  const summary = {
    date: new Date().toISOString(),
    machine: `${process.platform} ${process.arch}, node ${process.version}`,
    note:
      `frames per second, ${BATCH} UDP datagrams with ${PAYLOAD.length} bytes of data per op; every path is driven ` +
      'from this one Node process, so a Node dgram sender or receiver is part of each (the veth baseline has both)',
    in: { rumpnet_tap: ri!.ops * BATCH, linux_veth: vi!.ops * BATCH, ratio: ri!.ops / vi!.ops },
    out: { rumpnet_tap: ro!.ops * BATCH, linux_veth: vo!.ops * BATCH, ratio: ro!.ops / vo!.ops },
    tap_hypercall: {
      in_one_call_per_batch: tb!.ops * BATCH,
      in_one_call_per_frame: tf!.ops * BATCH,
      batch_vs_per_frame: tb!.ops / tf!.ops,
      out_write_flush: tw!.ops * BATCH,
    },
  };
  writeFileSync(join(resultsDir, 'virtif-summary.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(JSON.stringify(summary, null, 2));

  tap.close();
  native.tapClose(perFrameTap.handle);
  linuxTun.close();
  for (const sock of linuxRaw) sock.close();
  nearSock.close();
  farSock.close();
  helper.disconnect();
  await k.halt();
}

const nsB = process.env[NS_ENV];
if (nsB === undefined) outside();
else {
  inside(nsB).then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
