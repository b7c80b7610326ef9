/*
 * Socket buffer autosizing (NetBSD's and FreeBSD's net.inet.tcp.sendbuf_auto
 * and recvbuf_auto): buffers an application did not size grow while a bulk
 * stream keeps them full, a step at a time up to sendbuf_max/recvbuf_max;
 * buffers set with SO_SNDBUF/SO_RCVBUF, and every buffer with the knobs
 * off, stay as they are. Two kernels on a 10 ms, 100 Mbit/s link (a
 * bandwidth-delay product of 250 KB, far above the 32 KiB defaults), on the
 * simulated clock.
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, SHUT_WR, SOCK_STREAM, type Sockaddr } from '../../kern/sys.js';
import { SOL_SOCKET, SO_RCVBUF, SO_SNDBUF } from '../../net/socket.js';
import { bootKernels, haltAll } from '../helpers/kernels.js';
import { connectKernels } from '../helpers/link.js';

const KiB = 1024;
const PORT = 5001;
const sin = (addr: string, port: number): Sockaddr => ({ family: AF_INET, addr, port });

interface Outcome {
  /** SO_SNDBUF of the writer and SO_RCVBUF of the reader after the transfer, and the initial ones. */
  snd0: number;
  rcv0: number;
  snd: number;
  rcv: number;
  received: number;
  ms: number;
}

async function transfer(opts: { sysctl?: Record<string, number>; setBuffers?: number; bytes?: number }): Promise<Outcome> {
  const ks = bootKernels(2, 7);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const faults = { delayMs: 5, bandwidthBps: 100e6 };
  connectKernels(ks.sim, a, b, { ...faults, seed: 1 }, { ...faults, seed: 2 }, { addrA: '10.0.0.1/24', addrB: '10.0.0.2/24' });
  for (const k of [a, b]) for (const [name, v] of Object.entries(opts.sysctl ?? {})) await k.sys.sysctlSet(name, v);
  await ks.sim.run(10);
  const total = opts.bytes ?? 4 * 1024 * KiB;
  const lfd = await b.sys.socket(AF_INET, SOCK_STREAM, 0);
  if (opts.setBuffers) await b.sys.setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, opts.setBuffers);
  await b.sys.bind(lfd, sin('0.0.0.0', PORT));
  await b.sys.listen(lfd, 4);
  const fd = await a.sys.socket(AF_INET, SOCK_STREAM, 0);
  if (opts.setBuffers) await a.sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, opts.setBuffers);
  let snd0 = 0;
  let rcv0 = 0;
  let rcv = 0;
  let received = 0;
  const t0 = ks.sim.now();
  const server = (async () => {
    const { fd: sfd } = await b.sys.accept(lfd);
    rcv0 = (await b.sys.getsockopt(sfd, SOL_SOCKET, SO_RCVBUF)) as number;
    for (;;) {
      const d = await b.sys.read(sfd, 256 * KiB);
      if (d.length === 0) break;
      received += d.length;
    }
    rcv = (await b.sys.getsockopt(sfd, SOL_SOCKET, SO_RCVBUF)) as number;
    await b.sys.close(sfd);
  })();
  let snd = 0;
  const client = (async () => {
    await a.sys.connect(fd, sin('10.0.0.2', PORT));
    // After the handshake: tcp_mss rounded the buffers to a multiple of the MSS.
    snd0 = (await a.sys.getsockopt(fd, SOL_SOCKET, SO_SNDBUF)) as number;
    const chunk = new Uint8Array(64 * KiB);
    for (let sent = 0; sent < total; ) sent += await a.sys.write(fd, chunk.subarray(0, Math.min(chunk.length, total - sent)));
    snd = (await a.sys.getsockopt(fd, SOL_SOCKET, SO_SNDBUF)) as number;
    await a.sys.shutdown(fd, SHUT_WR);
    await a.sys.close(fd);
  })();
  let done = false;
  const both = Promise.all([server, client]).finally(() => (done = true));
  await ks.sim.runUntil(() => done, 10 * 60_000);
  await both;
  const ms = ks.sim.now() - t0;
  await b.sys.close(lfd);
  await ks.sim.run(5 * 60_000);
  await haltAll(ks);
  return { snd0, rcv0, snd, rcv, received, ms };
}

test('a bulk stream grows default buffers a step at a time, up to sendbuf_max and recvbuf_max', async (t) => {
  const on = await transfer({});
  t.is(on.received, 4 * 1024 * KiB);
  t.true(on.snd > on.snd0, `send buffer grew: ${on.snd0} -> ${on.snd}`);
  t.true(on.rcv > on.rcv0, `receive buffer grew: ${on.rcv0} -> ${on.rcv}`);
  t.true(on.snd <= 256 * KiB && on.rcv <= 256 * KiB, `no further than the maxima: ${on.snd}, ${on.rcv}`);
  const off = await transfer({ sysctl: { 'net.inet.tcp.sendbuf_auto': 0, 'net.inet.tcp.recvbuf_auto': 0 } });
  t.is(off.received, 4 * 1024 * KiB);
  t.is(off.snd, off.snd0, 'sendbuf_auto=0: the send buffer stays');
  t.is(off.rcv, off.rcv0, 'recvbuf_auto=0: the receive buffer stays');
  // What autosizing is for: a window bigger than 32 KiB on a 250 KB path.
  t.true(on.ms < off.ms / 2, `faster with autosizing: ${on.ms} ms vs ${off.ms} ms`);
  t.log(`autosized ${on.snd0}/${on.rcv0} -> ${on.snd}/${on.rcv} bytes, ${on.ms} ms; fixed: ${off.ms} ms`);
});

test('buffers the application sized with SO_SNDBUF / SO_RCVBUF stay as set (accepted sockets inherit the listener\'s)', async (t) => {
  const set = await transfer({ setBuffers: 48 * KiB, bytes: 1024 * KiB });
  t.is(set.received, 1024 * KiB);
  t.is(set.snd, set.snd0);
  t.is(set.rcv, set.rcv0);
});

test('the step and the ceiling are the sysctls\' (net.inet.tcp.recvbuf_max, sendbuf_max)', async (t) => {
  const capped = await transfer({ sysctl: { 'net.inet.tcp.sendbuf_max': 40 * KiB, 'net.inet.tcp.recvbuf_max': 48 * KiB } });
  t.true(capped.snd > capped.snd0 && capped.snd <= 40 * KiB, `send buffer ${capped.snd0} -> ${capped.snd}`);
  t.true(capped.rcv > capped.rcv0 && capped.rcv <= 48 * KiB, `receive buffer ${capped.rcv0} -> ${capped.rcv}`);
});
