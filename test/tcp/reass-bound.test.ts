/*
 * The TCP reassembly queue is bounded (FreeBSD net.inet.tcp.reass.maxqueuelen
 * and a byte bound from the receive buffer's free space): a peer that sends
 * a flood of out-of-order one-byte segments cannot grow it, every segment is
 * still ACKed with the right ACK and SACK blocks, and the connection
 * completes byte for byte once the holes are filled.
 *
 *     kernel under test                 the peer (harness.ts)
 *     hub0 10.0.0.1/24   ════ hub ════  10.0.0.2
 */
import test from 'ava';
import { inet } from '../../net/inet/inet.js';
import type { TcpCb } from '../../net/inet/tcp/var.js';
import { SOL_SOCKET, SO_RCVBUF } from '../../net/socket.js';
import { formatStats } from '../../bin/rump.netstat.js';
import { Peer } from './harness.js';

const SACK = [['mss', 1460], ['sackOK'], ['eol'], ['eol']] as Parameters<Peer['passiveOpen']>[0];

/** The one connection that is not the listener. */
function conn(p: Peer): TcpCb {
  for (const tp of inet(p.k).tcp!.tcbs) if (tp.inp.fport !== 0) return tp;
  throw new Error('no connection');
}

/** Read until `n` bytes came (or EOF), on the sim clock. */
async function readAll(p: Peer, fd: number, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const b = await p.k.sys.read(fd, n - got);
    if (b.length === 0) break;
    out.set(b, got);
    got += b.length;
  }
  return out.subarray(0, got);
}

test('16,000 out-of-order one-byte segments: the queue stays at maxqueuelen, memory flat, every ACK right, the stream completes', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const { fd, lfd } = await p.passiveOpen(SACK, 65535);
  const k = p.k;
  t.is(await k.sys.sysctl('net.inet.tcp.reass.maxqueuelen'), 100, 'FreeBSD default');
  const N = 16_000;
  const stream = new Uint8Array(2 * N + 1).map((_, i) => (i * 7 + 3) & 0xff);
  // Byte at relative seq s is stream[s - 1]; the peer sends seq 2, 4, 6, ...
  // leaving a hole before each.
  let memAt200 = 0;
  for (let i = 0; i < N; i++) {
    const s = 2 + 2 * i;
    p.inject('.', s, 1, { data: stream.subarray(s - 1, s) });
    if (i % 100 === 99) await p.sim.settle();
    if (i === 199) memAt200 = k.mem.used;
  }
  await p.sim.settle();
  const tp = conn(p);
  t.is(tp.segq.length, 100, 'the queue holds maxqueuelen segments');
  t.is(tp.segqBytes, 100);
  t.is(p.stat.rcvoopack, 100);
  t.is(p.stat.rcvreassfull, N - 100, 'every other segment dropped and counted');
  t.is(k.mem.used, memAt200, 'memory flat from segment 200 to 16,000');
  t.true(k.mbufs.inUse <= 110, `mbufs held: ${k.mbufs.inUse}`);

  // Every segment got an immediate ACK for rcv_nxt; the SACK blocks name
  // only what is queued (the newest queued byte at 200 first, RFC 2018 §4).
  const acks = p.drain();
  t.is(acks.length, N);
  t.true(acks.every((a) => a.startsWith('. 1:1(0) ack 1 ')), acks.find((a) => !a.startsWith('. 1:1(0) ack 1 ')));
  t.is(acks[99], '. 1:1(0) ack 1 win 65535 <nop,nop,sack 200:201 198:199 196:197 194:195>');
  t.is(acks[N - 1], acks[99], 'drops change nothing the peer is told');

  const stats = await formatStats(k.sys, 1, 'tcp');
  t.true(stats.includes(`\t\t${N - 100} segments discarded due to full reassembly queue\n`), stats);

  // The peer fills the holes in order (MSS-sized), then FIN: the stream
  // arrives whole.
  for (let s = 1; s <= 2 * N + 1; s += 1460) {
    const e = Math.min(s + 1460, 2 * N + 2);
    await p.send('.', s, 1, { data: stream.subarray(s - 1, e - 1) });
  }
  await p.send('F.', 2 * N + 2, 1);
  const got = await readAll(p, fd, 2 * N + 2);
  t.is(got.length, 2 * N + 1);
  t.deepEqual(got, stream);
  t.is(tp.segq.length, 0);
  t.is(tp.segqBytes, 0);
  t.is(await p.state(fd), 'CLOSE_WAIT');
  await k.sys.close(fd);
  await k.sys.close(lfd);
  p.drain();
  await p.send('.', 2 * N + 3, 2);
  t.is(k.mbufs.inUse, 0, 'nothing held once closed');
  await p.finish(t);
});

test('net.inet.tcp.reass.maxqueuelen is writable and a segment at rcv_nxt always gets in', async (t) => {
  const p = await Peer.create({ freebsd: true, sysctl: { 'net.inet.tcp.reass.maxqueuelen': 3 } });
  const { fd } = await p.passiveOpen(SACK, 65535);
  for (const s of [101, 201, 301, 401]) await p.send('.', s, 1, { data: 10 });
  const tp = conn(p);
  t.is(tp.segq.length, 3);
  t.is(p.stat.rcvreassfull, 1);
  t.deepEqual(p.drain().slice(-1), ['. 1:1(0) ack 1 win 65535 <nop,nop,sack 301:311 201:211 101:111>']);
  // The full queue does not refuse the segment that fills the hole.
  await p.send('.', 1, 1, { data: 100 });
  t.is(p.next(), '. 1:1(0) ack 111 win 65535 <nop,nop,sack 301:311 201:211>');
  t.is(tp.segq.length, 2);
  t.is((await p.k.sys.read(fd, 1000)).length, 110);
  await p.finish(t);
});

test('the byte bound: out-of-order data beyond the receive buffer\'s free space is dropped, not queued', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const { fd } = await p.passiveOpen(SACK, 65535);
  // Shrink the buffer after the window was offered: the window cannot
  // shrink (RFC 9293 §3.8.6.2.2), but what is queued must fit the buffer.
  await p.k.sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 4000);
  for (let i = 0; i < 6; i++) await p.send('.', 1001 + 1000 * i, 1, { data: 1000 });
  const tp = conn(p);
  t.is(tp.segqBytes, 4000, 'four 1000-byte segments fit 4000 bytes');
  t.is(tp.segq.length, 4);
  t.is(p.stat.rcvreassfull, 2);
  p.drain();
  await p.send('.', 1, 1, { data: 1000 });
  t.regex(p.next()!, /^\. 1:1\(0\) ack 5001 /);
  t.is((await p.k.sys.read(fd, 10000)).length, 5000);
  await p.finish(t);
});

test('a contiguous flood of one-byte segments is one block, bounded by buffer storage (8 × the receive buffer, BSD sb_mbmax)', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const { fd } = await p.passiveOpen(SACK, 65535);
  const k = p.k;
  const N = 16_000;
  const stream = new Uint8Array(N + 1).map((_, i) => (i * 13 + 5) & 0xff);
  // seq 2, 3, 4, ...: one block behind the hole at 1.
  for (let i = 0; i < N; i++) {
    p.inject('.', 2 + i, 1, { data: stream.subarray(1 + i, 2 + i) });
    if (i % 100 === 99) await p.sim.settle();
  }
  await p.sim.settle();
  const tp = conn(p);
  const hiwat = (await k.sys.getsockopt(fd, SOL_SOCKET, SO_RCVBUF)) as number;
  t.true(tp.segqMem <= 8 * hiwat, `${tp.segqMem} bytes of buffers queued`);
  t.true(tp.segq.length < N, `${tp.segq.length} segments queued`);
  t.is(p.stat.rcvreassfull, N - tp.segq.length);
  t.is(p.stat.rcvreassfull > 0, true);
  const last = p.drain().pop()!;
  t.is(last, `. 1:1(0) ack 1 win 65535 <nop,nop,sack 2:${2 + tp.segq.length}>`);
  // The hole at 1 is filled; the rest comes again in MSS-sized segments.
  for (let s = 1; s <= N + 1; s += 1460) await p.send('.', s, 1, { data: stream.subarray(s - 1, Math.min(s + 1459, N + 1)) });
  t.deepEqual(await readAll(p, fd, N + 1), stream);
  t.is(tp.segq.length, 0);
  t.is(tp.segqMem, 0);
  t.is(tp.segqBytes, 0);
  await p.finish(t);
});
