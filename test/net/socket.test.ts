/*
 * The socket calls that answer at once, for the in-process Node faces
 * (net/socket.ts sendNow, recvNow, sendRecord, recvRecordNow): the same
 * outcomes as sendto/recvfrom with MSG_DONTWAIT, as numbers instead of
 * promises and thrown errors. One kernel over lo0 on the simulated clock.
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, MSG_PEEK, SHUT_RD, SHUT_WR, SOCK_DGRAM, SOCK_STREAM, type Sockaddr } from '../../kern/sys.js';
import { EAGAIN, ECONNREFUSED, EOPNOTSUPP, EPIPE, ENOTCONN, Errno } from '../../kern/errno.js';
import { Socket, SOL_SOCKET, SO_SNDBUF } from '../../net/socket.js';
import { bootKernels, haltAll, type Kernels } from '../helpers/kernels.js';

const sin = (port: number): Sockaddr => ({ family: AF_INET, addr: '127.0.0.1', port });

async function streamPair(ks: Kernels): Promise<{ k: Kernel; c: Socket; s: Socket }> {
  const k = ks.kernels[0]!;
  const lfd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
  await k.sys.bind(lfd, sin(7000));
  await k.sys.listen(lfd, 4);
  const cfd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
  const cp = k.sys.connect(cfd, sin(7000));
  const ap = k.sys.accept(lfd);
  await ks.sim.run(10);
  await cp;
  const { fd: sfd } = await ap;
  await k.sys.close(lfd);
  return { k, c: k.sys.file(cfd) as Socket, s: k.sys.file(sfd) as Socket };
}

test('sendNow takes what the send buffer has room for, 0 when full; recvNow hands it over, EAGAIN when empty, EOF after the peer ends', async (t) => {
  const ks = bootKernels(1, 41, {});
  const { c, s } = await streamPair(ks);
  t.is(s.recvNow(1000), -EAGAIN, 'nothing queued yet');
  const data = new Uint8Array(1 << 20);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  let sent = 0;
  let n: number;
  while ((n = c.sendNow(data.subarray(sent))) > 0) sent += n;
  t.is(n, 0, 'a full send buffer takes nothing and says so with 0');
  t.true(sent > 0 && sent < data.length, `took ${sent} bytes before the buffer filled`);
  const got: Uint8Array[] = [];
  let total = 0;
  // Read and write in turns until everything went through.
  for (let guard = 0; guard < 10_000 && total < data.length; guard++) {
    await ks.sim.run(1);
    for (;;) {
      const r = s.recvNow(64 * 1024);
      if (typeof r === 'number') {
        t.is(r, -EAGAIN);
        break;
      }
      got.push(r);
      total += r.length;
    }
    if (sent < data.length) {
      const m = c.sendNow(data.subarray(sent));
      if (m > 0) sent += m;
    }
  }
  const all = new Uint8Array(total);
  let off = 0;
  for (const g of got) {
    all.set(g, off);
    off += g.length;
  }
  t.is(total, data.length);
  t.deepEqual(all, data);
  c.shutdown(SHUT_WR);
  t.is(c.sendNow(new Uint8Array(1)), -EPIPE, 'after shutdown(SHUT_WR)');
  await ks.sim.run(10);
  const eof = s.recvNow(10);
  t.true(eof instanceof Uint8Array && eof.length === 0, 'end of file is an empty array');
  c.close();
  s.close();
  await ks.sim.run(5 * 60_000);
  await haltAll(ks);
});

test('bytes a stream read hands over stay as they were while the connection carries megabytes more (views of received clusters are never reused)', async (t) => {
  const ks = bootKernels(1, 43, {});
  const { k, c, s } = await streamPair(ks);
  const kept: Uint8Array[] = [];
  let views = 0;
  // 64 rounds of 64 KiB, each round's bytes a different value: a cluster
  // the pool handed out again would show a later round's value.
  for (let round = 0; round < 64; round++) {
    const data = new Uint8Array(64 * 1024).fill(round + 1);
    let sent = 0;
    for (let guard = 0; guard < 1000 && sent < data.length; guard++) {
      const n = c.sendNow(data.subarray(sent));
      if (n > 0) sent += n;
      await ks.sim.run(1);
      for (let r = s.recvNow(256 * 1024); typeof r !== 'number'; r = s.recvNow(256 * 1024)) {
        kept.push(r);
        if (r.length >= 8192 && r.buffer.byteLength > r.length) views++;
      }
    }
    t.is(sent, data.length);
  }
  // What the last round sent may still be on its way: take it too.
  for (let guard = 0; guard < 100 && kept.reduce((a, r) => a + r.length, 0) < 64 * 64 * 1024; guard++) {
    await ks.sim.run(1);
    for (let r = s.recvNow(256 * 1024); typeof r !== 'number'; r = s.recvNow(256 * 1024)) kept.push(r);
  }
  t.true(views > 0, `some reads were handed over as views of their clusters (${views} of ${kept.length})`);
  // Checked only now, after all of it went through: byte p of the stream is p / 64 KiB + 1.
  let total = 0;
  let bad = 0;
  for (const r of kept) {
    for (let i = 0; i < r.length; i++) if (r[i] !== ((total + i) >>> 16) + 1) bad++;
    total += r.length;
  }
  t.is(total, 64 * 64 * 1024);
  t.is(bad, 0, 'no byte changed after it was handed over');
  c.close();
  s.close();
  await ks.sim.run(5 * 60_000);
  t.is(k.mbufs.inUse, 0, 'every mbuf freed: a view handed over is no leak');
  await haltAll(ks);
});

test('sendNow on an unconnected stream socket is ENOTCONN; the stream calls refuse datagram sockets and the reverse', async (t) => {
  const ks = bootKernels(1, 42, {});
  const k = ks.kernels[0]!;
  const tcp = k.sys.file(await k.sys.socket(AF_INET, SOCK_STREAM, 0)) as Socket;
  t.is(tcp.sendNow(new Uint8Array(4)), -ENOTCONN);
  t.is(tcp.recvNow(4), -ENOTCONN);
  t.is(tcp.recvRecordNow(4), -EOPNOTSUPP);
  const udp = k.sys.file(await k.sys.socket(AF_INET, SOCK_DGRAM, 0)) as Socket;
  t.is(udp.sendNow(new Uint8Array(4)), -EOPNOTSUPP);
  t.is(udp.recvNow(4), -EOPNOTSUPP);
  await haltAll(ks);
});

test('sendRecord sends a datagram at once; recvRecordNow takes it with its sender, EAGAIN when none, a pending ICMP error once', async (t) => {
  const ks = bootKernels(1, 43, {});
  const k = ks.kernels[0]!;
  const afd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  const bfd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await k.sys.bind(afd, sin(6001));
  await k.sys.bind(bfd, sin(6002));
  const a = k.sys.file(afd) as Socket;
  const b = k.sys.file(bfd) as Socket;
  t.is(b.recvRecordNow(100), -EAGAIN);
  t.is(a.sendRecord(new Uint8Array([1, 2, 3]), 0, sin(6002)), 3);
  t.is(a.sendRecord(new Uint8Array(0), 0, sin(6002)), 0, 'an empty datagram is a datagram');
  await ks.sim.run(1);
  const r1 = b.recvRecordNow(100);
  const r2 = b.recvRecordNow(100);
  t.true(typeof r1 !== 'number' && typeof r2 !== 'number');
  if (typeof r1 === 'number' || typeof r2 === 'number') return;
  t.deepEqual([...r1.data], [1, 2, 3]);
  t.deepEqual(r1.from, sin(6001));
  t.is(r2.data.length, 0);
  t.is(b.recvRecordNow(100), -EAGAIN);
  // Without a destination and not connected: the same error sendto throws.
  t.throws(() => a.sendRecord(new Uint8Array(1), 0, null), { instanceOf: Errno });
  // Connected to a port nobody has: ICMP port unreachable comes back as ECONNREFUSED, once.
  await k.sys.connect(afd, sin(6999));
  a.sendRecord(new Uint8Array(1), 0, null);
  await ks.sim.run(1);
  t.is(a.recvRecordNow(100), -ECONNREFUSED);
  t.is(a.recvRecordNow(100), -EAGAIN);
  // Shut down for reading: 0, nothing more will come (not an endless stream of empty records).
  await k.sys.shutdown(bfd, SHUT_RD);
  t.is(b.recvRecordNow(100), 0);
  await k.sys.close(afd);
  await k.sys.close(bfd);
  await haltAll(ks);
});

test('a large datagram a read hands over stays as it was while more datagrams arrive (views of received buffers are never reused)', async (t) => {
  const ks = bootKernels(1, 47, {});
  const k = ks.kernels[0]!;
  const afd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  const bfd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await k.sys.bind(afd, sin(6101));
  await k.sys.bind(bfd, sin(6102));
  await k.sys.setsockopt(afd, SOL_SOCKET, SO_SNDBUF, 65536);
  const a = k.sys.file(afd) as Socket;
  const b = k.sys.file(bfd) as Socket;
  // 16 KiB datagrams, one lo0 packet each, in pooled jumbo clusters; each a different value.
  const kept: Uint8Array[] = [];
  let views = 0;
  for (let i = 0; i < 64; i++) {
    t.is(a.sendRecord(new Uint8Array(16384).fill(i + 1), 0, sin(6102)), 16384);
    await ks.sim.run(1);
    const r = b.recvRecordNow(65536);
    if (typeof r === 'number') {
      t.fail(`datagram ${i}: ${r}`);
      break;
    }
    if (r.data.buffer.byteLength > r.data.length) views++;
    kept.push(r.data);
  }
  t.true(views > 0, `datagrams were handed over as views (${views} of ${kept.length})`);
  const bad = kept.filter((d, i) => d.length !== 16384 || !d.every((x) => x === i + 1)).length;
  t.is(bad, 0, 'no datagram changed after it was handed over');
  // A peek copies and leaves the datagram for the read.
  a.sendRecord(new Uint8Array(16384).fill(7), 0, sin(6102));
  await ks.sim.run(1);
  const peek = await k.sys.recvfrom(bfd, 65536, MSG_PEEK);
  const read = await k.sys.recvfrom(bfd, 65536, 0);
  t.deepEqual(peek.data, read.data);
  await k.sys.close(afd);
  await k.sys.close(bfd);
  t.is(k.mbufs.inUse, 0, 'every mbuf freed');
  await haltAll(ks);
});
