/*
 * The node host's TAP devices against the real Linux kernel, run as root
 * inside the test's network namespace (tap-host.test.ts starts it there).
 * Prints one JSON line of observations for the test to check.
 *
 *   Linux: rnt0 10.199.0.1/24, a UDP socket on 10.199.0.1:5555, a permanent
 *          neighbour 10.199.0.2 → 02:00:5e:10:20:31 (no ARP needed)
 *   this script: openTap('rnt0') playing 10.199.0.2
 *
 * Linux → TAP: 200 datagrams sent in one tick arrive as one batch.
 * TAP → Linux: 100 frames written, one flush, 100 datagrams received.
 * readStop holds frames back in the kernel's queue; readStart delivers them.
 */
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { createNodeHost, nativeAddon } from '../../../hypercall/node.js';
import type { TapBatch } from '../../../hypercall/types.js';

const host = createNodeHost();
const out: Record<string, unknown> = {};
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const exists = (dev: string) => {
  try {
    execFileSync('ip', ['link', 'show', 'dev', dev], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

// Frames seen, by batch; waiters resolved when enough UDP-to-port-9 frames arrived.
const batchSizes: number[] = [];
let udpFrames = 0;
/** Bare SYNs to port 7 delivered, and SYNs the reader dropped over its budget (batch.shed). */
let synFrames = 0;
let shedTotal = 0;
let want = 0;
let reached: (() => void) | null = null;
function onFrames(b: TapBatch): void {
  batchSizes.push(b.count);
  shedTotal += b.shed ?? 0;
  let off = 0;
  for (let i = 0; i < b.count; i++) {
    const len = b.lengths[i]!;
    const f = b.bytes.subarray(off, off + len);
    off += len;
    // IPv4, UDP, destination port 9.
    if (len >= 42 && f[12] === 0x08 && f[13] === 0x00 && f[23] === 17 && ((f[36]! << 8) | f[37]!) === 9) udpFrames++;
    if (len >= 54 && f[12] === 0x08 && f[13] === 0x00 && f[23] === 6 && ((f[36]! << 8) | f[37]!) === 7 && f[47] === 0x02) synFrames++;
  }
  if (reached !== null && udpFrames >= want) {
    const r = reached;
    reached = null;
    r();
  }
}
const errors: string[] = [];
const tap = host.openTap('rnt0', { onFrames, onError: (code) => errors.push(code) });
out['name'] = tap.name;
out['created'] = tap.created;
out['existsWhileOpen'] = exists('rnt0');

ip('addr', 'add', '10.199.0.1/24', 'dev', 'rnt0');
ip('link', 'set', 'rnt0', 'up');
ip('neigh', 'replace', '10.199.0.2', 'lladdr', '02:00:5e:10:20:31', 'dev', 'rnt0', 'nud', 'permanent');
const linuxMac = readFileSync('/sys/class/net/rnt0/address', 'utf8').trim().split(':').map((h) => parseInt(h, 16));

const sock = dgram.createSocket('udp4');
await new Promise<void>((r) => sock.bind(5555, '10.199.0.1', r));

/** Send `n` datagrams to 10.199.0.2:9 in one tick; resolves when every send completed. */
function sendBurst(n: number): Promise<void> {
  let left = n;
  return new Promise((done, fail) => {
    for (let i = 0; i < n; i++) {
      sock.send(Buffer.from(`burst ${i}`), 9, '10.199.0.2', (err) => {
        if (err) fail(err);
        else if (--left === 0) done();
      });
    }
  });
}

function framesReach(n: number): Promise<void> {
  want = n;
  if (udpFrames >= n) return Promise.resolve();
  return new Promise((r) => (reached = r));
}

// Linux → TAP, one burst.
const step = (s: string) => process.stderr.write(`step: ${s}\n`);
step('burst');
tap.readStart();
const sent = sendBurst(200);
await framesReach(200);
await sent;
out['burstFrames'] = udpFrames;
out['burstBatches'] = batchSizes.length;
out['burstLargestBatch'] = Math.max(...batchSizes);

step('readStop');
// readStop: frames wait in the kernel's queue until readStart.
tap.readStop();
const batchesBefore = batchSizes.length;
await sendBurst(5);
// A round trip through the loop (a datagram to ourselves over lo) gives the
// poll a chance it must not take.
const lo = dgram.createSocket('udp4');
await new Promise<void>((r) => lo.bind(0, '127.0.0.1', r));
await new Promise<void>((r) => {
  lo.once('message', () => r());
  lo.send('x', lo.address().port, '127.0.0.1');
});
lo.close();
out['batchesWhileStopped'] = batchSizes.length - batchesBefore;
tap.readStart();
await framesReach(205);
out['afterRestartBatches'] = batchSizes.length - batchesBefore;

step('write');
// TAP → Linux: 100 UDP datagrams from 10.199.0.2:7777, written then flushed once.
function udpFrame(seq: number): Uint8Array {
  const payload = new TextEncoder().encode(`frame ${seq}`);
  const f = new Uint8Array(14 + 20 + 8 + payload.length);
  const v = new DataView(f.buffer);
  f.set(linuxMac, 0);
  f.set([0x02, 0x00, 0x5e, 0x10, 0x20, 0x31], 6);
  v.setUint16(12, 0x0800);
  f[14] = 0x45;
  v.setUint16(16, 20 + 8 + payload.length);
  v.setUint16(18, seq + 1);
  f[22] = 64;
  f[23] = 17;
  f.set([10, 199, 0, 2, 10, 199, 0, 1], 26);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += v.getUint16(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  v.setUint16(24, ~sum & 0xffff);
  v.setUint16(34, 7777);
  v.setUint16(36, 5555);
  v.setUint16(38, 8 + payload.length);
  // UDP checksum 0: none (RFC 768), accepted over IPv4.
  f.set(payload, 42);
  return f;
}
const got: string[] = [];
const allReceived = new Promise<void>((r) => {
  sock.on('message', (msg) => {
    got.push(msg.toString());
    if (got.length === 100) r();
  });
});
let accepted = 0;
for (let i = 0; i < 100; i++) if (tap.write(udpFrame(i), 0, udpFrame(i).length)) accepted++;
out['queuedBeforeFlush'] = tap.queued;
out['refused'] = tap.flush();
out['accepted'] = accepted;
await allReceived;
out['received'] = got.length;
out['receivedInOrder'] = got.every((m, i) => m === `frame ${i}`);
out['tooBig'] = tap.write(new Uint8Array(70000), 0, 70000);

step('synbudget');
// 1,500 bare SYNs (written on rnt0 with AF_PACKET: Linux's stack never sees
// them), then 10 datagrams, wait while reading is stopped; the wake-up at
// readStart delivers 1,024 SYNs (the budget per wake-up), reads and drops the
// other 476 and says so, and delivers every datagram behind them.
tap.readStop();
ip('link', 'set', 'rnt0', 'txqueuelen', '4000');
execFileSync('python3', ['-c', `
import socket, struct
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("rnt0", 0))
eth = bytes([2, 0, 0x5e, 0x10, 0x20, 0x31]) + bytes(${JSON.stringify(linuxMac)}) + b"\\x08\\x00"
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, bytes([172, 16, 0, 1]), bytes([10, 199, 0, 2]))
for n in range(1500):
    s.send(eth + ip + struct.pack("!HHIIBBHHH", 1024 + n, 7, n, 0, 5 << 4, 0x02, 65535, 0, 0))
`]);
const udpBefore = udpFrames;
await sendBurst(10);
tap.readStart();
await framesReach(udpBefore + 10);
out['synDelivered'] = synFrames;
out['synShed'] = shedTotal;
out['udpBehindSyns'] = udpFrames - udpBefore;

step('busy');
// The same device again while open: busy.
try {
  host.openTap('rnt0', { onFrames() {}, onError() {} });
  out['secondOpen'] = 'opened';
} catch (e) {
  out['secondOpen'] = (e as { code?: string }).code;
}
try {
  host.openTap('x'.repeat(16), { onFrames() {}, onError() {} });
} catch (e) {
  out['longName'] = (e as { code?: string }).code;
}

sock.close();
tap.close();
tap.close();
out['writeAfterClose'] = tap.write(new Uint8Array(60), 0, 60);
out['existsAfterClose'] = exists('rnt0');

// A persistent device made beforehand: attached to, and left in place.
ip('tuntap', 'add', 'dev', 'rnt1', 'mode', 'tap');
const kept = host.openTap('rnt1', { onFrames() {}, onError() {} });
out['persistentCreated'] = kept.created;
kept.readStart();
kept.close();
out['persistentExistsAfterClose'] = exists('rnt1');

step('delete');
// A device deleted under a reader: the poll reports it, reading stops.
const doomed = host.openTap('rnt2', { onFrames() {}, onError: (code) => errors.push(code) });
ip('link', 'set', 'rnt2', 'up');
doomed.readStart();
const failed = new Promise<void>((r) => {
  const check = () => (errors.length > 0 ? r() : setImmediateLike(check));
  check();
});
ip('link', 'del', 'rnt2');
await failed;
doomed.close();
out['errors'] = errors;

step('perFrame');
// The measurement mode (bench/virtif.ts): one call per frame, count 1 each.
{
  const native = nativeAddon();
  const lengths = new Uint32Array(1024);
  const calls: number[] = [];
  let wantCalls: (() => void) | null = null;
  const pf = native.tapOpen('rnt4', new ArrayBuffer(1 << 20), lengths.buffer, (n) => {
    calls.push(n === 1 ? lengths[0]! : -n);
    if (calls.length === 3) wantCalls?.();
  }, true);
  ip('addr', 'add', '10.199.4.1/24', 'dev', 'rnt4');
  ip('link', 'set', 'rnt4', 'up');
  ip('neigh', 'replace', '10.199.4.2', 'lladdr', '02:00:5e:10:20:31', 'dev', 'rnt4', 'nud', 'permanent');
  const s4 = dgram.createSocket('udp4');
  await new Promise<void>((r) => s4.bind(0, '10.199.4.1', r));
  native.tapReadStart(pf.handle);
  const three = new Promise<void>((r) => (wantCalls = r));
  for (const len of [1, 2, 3]) s4.send(new Uint8Array(len), 9, '10.199.4.2');
  await three;
  s4.close();
  native.tapClose(pf.handle);
  // Each frame on its own: 14 + 20 + 8 + the datagram's length.
  out['perFrameLengths'] = calls;
}

step('worker');
// A worker thread reading a TAP, terminated without closing it: the device
// closes with the worker's environment, and nothing of the addon runs after
// the worker unloaded it.
const addonPath = fileURLToPath(new URL('../../../hypercall/native/build/Release/rumpnet_native.node', import.meta.url));
for (let i = 0; i < 2; i++) {
  const w = new Worker(
    `const a = require(${JSON.stringify(addonPath)});
     const t = a.tapOpen('rnt3', new ArrayBuffer(1 << 20), new ArrayBuffer(4096), () => {});
     a.tapReadStart(t.handle);
     require('node:worker_threads').parentPort.postMessage(t.created);`,
    { eval: true },
  );
  await new Promise((r) => w.once('message', r));
  await w.terminate();
}
out['workerDeviceGone'] = !exists('rnt3');

process.stdout.write(JSON.stringify(out) + '\n');

/** Poll via the host's own softint queue (no timers outside hypercall/). */
function setImmediateLike(fn: () => void): void {
  host.defer(fn, undefined);
}
