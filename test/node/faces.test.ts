/*
 * kernel.net in process, where the handle talks to the kernel's socket
 * directly (no promise per write or read, no EINPROGRESS per connect):
 * what a user relies on from that path, on the simulated clock.
 */
import test from 'ava';
import { Buffer } from 'node:buffer';
import { createSimHost, RLIMIT_NOFILE, type RumpKernel } from '../../index.js';
import { SOL_SOCKET, SO_RCVBUF } from '../../net/socket.js';
import { netstack } from '../../net/netstack.js';
import { IFCAP_LRO } from '../../net/interface.js';
import { SHUT_RD } from '../../kern/sys.js';
import type { NetSocket } from '../../net/node/net.js';
import { deferred, drive, once, simKernel } from './helpers.js';

async function pair(seed: number): Promise<{ sim: ReturnType<typeof createSimHost>; a: RumpKernel; b: RumpKernel }> {
  const sim = createSimHost({ seed });
  const a = await simKernel(sim, 'bus1', '192.0.2.1');
  const b = await simKernel(sim, 'bus1', '192.0.2.2');
  return { sim, a, b };
}

test('destroy() while a connect is under way: close at once, no connect, and the host is let go', async (t) => {
  const { sim, a, b } = await pair(31);
  // Nobody has 192.0.2.9: the SYN waits for ARP and the connect stays under way.
  const c = a.net.connect(80, '192.0.2.9');
  const events: string[] = [];
  c.on('connect', () => events.push('connect'));
  c.on('error', (e: NodeJS.ErrnoException) => events.push(`error ${e.code}`));
  c.on('close', () => events.push('close'));
  await sim.run(500);
  t.true(c.connecting);
  t.true(sim.holds() > 0, 'a connect under way keeps the host alive');
  c.destroy();
  await drive(sim, once(c, 'close'));
  await sim.run(100);
  t.deepEqual(events, ['close']);
  t.is(sim.holds(), 0, 'nothing left holding the host (the sleeping connect was woken)');
  t.deepEqual(a.sys.openFds(), []);
  await a.halt();
  await b.halt();
});

test('connect with no descriptor left fails as Node does (error EMFILE from connect, then close), on a later tick', async (t) => {
  const { sim, a, b } = await pair(39);
  // Descriptor 3 only: the listener takes it, and the client's socket(2) has none.
  await a.sys.setrlimit(RLIMIT_NOFILE, { cur: 4, max: 4 });
  const srv = a.net.createServer(() => t.fail('no connection can be made'));
  await drive(sim, new Promise<void>((r) => srv.listen(7, '127.0.0.1', () => r())));
  const events: string[] = [];
  const c = a.net.connect(7, '127.0.0.1');
  c.on('connect', () => events.push('connect'));
  c.on('error', (e: NodeJS.ErrnoException) => events.push(`error ${e.code} ${e.syscall} ${e.message}`));
  c.on('close', (hadError: boolean) => events.push(`close hadError=${hadError}`));
  events.push('connect() returned');
  await drive(sim, once(c, 'close'));
  t.deepEqual(events, ['connect() returned', 'error EMFILE connect connect EMFILE 127.0.0.1:7', 'close hadError=true']);
  t.is(sim.holds() > 0, true, 'the listener still holds the host');
  await drive(sim, new Promise<void>((r) => srv.close(() => r())));
  t.deepEqual(a.sys.openFds(), []);
  await a.halt();
  await b.halt();
});

test('sequential connections (connect, echo, end, close) one after another leave nothing behind', async (t) => {
  const { sim, a, b } = await pair(32);
  const srv = b.net.createServer((s) => s.on('data', (d: Buffer) => s.write(d)));
  await drive(sim, new Promise<void>((r) => srv.listen(7, () => r())));
  const N = 200;
  const echoes: string[] = [];
  for (let i = 0; i < N; i++) {
    const c = a.net.connect(7, '192.0.2.2');
    c.on('connect', () => c.write(`hi ${i}`));
    let got = '';
    c.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= `hi ${i}`.length) c.end();
    });
    await drive(sim, once(c, 'close'));
    echoes.push(got);
  }
  t.deepEqual(echoes, Array.from({ length: N }, (_, i) => `hi ${i}`));
  await drive(sim, new Promise<void>((r) => srv.close(() => r())));
  t.deepEqual(a.sys.openFds(), []);
  t.deepEqual(b.sys.openFds(), []);
  await a.halt();
  await b.halt();
});

test('a write the kernel takes whole completes before write() returns; a bigger one is taken as room appears, in order', async (t) => {
  const { sim, a, b } = await pair(33);
  const conn = deferred<NetSocket>();
  const srv = b.net.createServer((s) => conn.resolve(s));
  await drive(sim, new Promise<void>((r) => srv.listen(9, () => r())));
  const c = a.net.connect(9, '192.0.2.2');
  await drive(sim, once(c, 'connect'));
  const s = await drive(sim, conn.promise);
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  t.true(c.write(Buffer.alloc(1000, 1)));
  t.is(c.writableLength, 0, 'the kernel took the small write at once');
  const big = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  c.write(big);
  t.true(c.writableLength > 0, 'a write bigger than the send buffer waits in part');
  c.end();
  await drive(sim, once(s, 'end'));
  const all = Buffer.concat(chunks);
  t.is(all.length, 1000 + big.length);
  t.true(all.subarray(0, 1000).equals(Buffer.alloc(1000, 1)));
  t.true(all.subarray(1000).equals(big));
  s.end();
  await drive(sim, Promise.all([once(c, 'close'), once(s, 'close')]));
  srv.close();
  await a.halt();
  await b.halt();
});

for (const lro of [false, true]) test(`reads hand up what is queued in large chunks: 200 KB waiting arrive as one chunk, not 64 KiB pieces${lro ? ' (with shmif LRO: a handful, the packets it made)' : ''}`, async (t) => {
  const { sim, a, b } = await pair(34);
  // The bus's 1,448-byte segments are gathered by the read; with the
  // driver's LRO they come as packets of up to 64 KiB, handed over as views.
  const ifp = netstack(b).ifs.unit('shmif0');
  if (!lro) ifp.capenable &= ~IFCAP_LRO;
  const conn = deferred<NetSocket>();
  const srv = b.net.createServer({ pauseOnConnect: true }, (s) => conn.resolve(s));
  await drive(sim, new Promise<void>((r) => srv.listen(10, () => r())));
  const c = a.net.connect(10, '192.0.2.2');
  await drive(sim, once(c, 'connect'));
  const s = await drive(sim, conn.promise);
  // Room for all of it in the reader's kernel while nobody reads.
  const fd = (s._handle as unknown as { fd: number }).fd;
  await b.sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 1024 * 1024);
  const size = 200_000;
  c.write(Buffer.alloc(size, 0x5a));
  await sim.run(2000);
  const sizes: number[] = [];
  s.on('data', (d: Buffer) => sizes.push(d.length));
  s.resume();
  await sim.run(10);
  if (lro) {
    t.is(sizes.reduce((x, y) => x + y, 0), size);
    // 139 segments of 1,448 bytes came as a handful of packets while the window opened.
    t.true(sizes.length <= 16, sizes.join(' '));
  } else {
    t.deepEqual(sizes, [size]);
  }
  c.destroy();
  s.destroy();
  await drive(sim, Promise.all([once(c, 'close'), once(s, 'close')]));
  srv.close();
  await a.halt();
  await b.halt();
});

test('a corked burst of 100,000 small writes goes out as one writev without recursing per chunk; every byte arrives in order', async (t) => {
  const { sim, a, b } = await pair(35);
  const conn = deferred<NetSocket>();
  const srv = b.net.createServer((s) => conn.resolve(s));
  await drive(sim, new Promise<void>((r) => srv.listen(11, () => r())));
  const c = a.net.connect(11, '192.0.2.2');
  await drive(sim, once(c, 'connect'));
  const s = await drive(sim, conn.promise);
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  const N = 100_000;
  c.cork();
  for (let i = 0; i < N; i++) c.write(Buffer.from([i & 0xff]));
  c.uncork();
  c.end();
  await drive(sim, once(s, 'end'));
  const all = Buffer.concat(chunks);
  t.is(all.length, N);
  let ok = true;
  for (let i = 0; i < N; i++) if (all[i] !== (i & 0xff)) ok = false;
  t.true(ok, 'the bytes arrive in the order written');
  s.end();
  await drive(sim, Promise.all([once(c, 'close'), once(s, 'close')]));
  srv.close();
  await a.halt();
  await b.halt();
});

test('thousands of datagrams queued while nobody listened are all delivered once receiving starts, without recursing per datagram', async (t) => {
  const { sim, a, b } = await pair(36);
  const rx = b.dgram.createSocket('udp4');
  await drive(sim, new Promise<void>((r) => rx.bind(9999, () => r())));
  rx.setRecvBufferSize(8 * 1024 * 1024);
  // Stop receiving on the handle so the datagrams queue in the kernel, then start again.
  const handle = (rx as unknown as { handle: { recvStop(): number; recvStart(): number } }).handle;
  const tx = a.dgram.createSocket('udp4');
  const N = 20_000;
  let got = 0;
  rx.on('message', () => got++);
  // One first, so ARP has resolved before the burst (it holds one packet while resolving).
  tx.send(Buffer.alloc(0), 9999, '192.0.2.2');
  await sim.run(100);
  t.is(got, 1);
  got = 0;
  handle.recvStop();
  // In bursts the bus ring and the interface queue hold.
  for (let i = 0; i < N; i++) {
    tx.send(Buffer.alloc(0), 9999, '192.0.2.2');
    if (i % 50 === 49) await sim.run(1);
  }
  await sim.run(1000);
  t.is(got, 0, 'nothing delivered while stopped');
  handle.recvStart();
  await sim.run(10);
  t.is(got, N);
  tx.close();
  rx.close();
  await sim.run(10);
  await a.halt();
  await b.halt();
});

test('a dgram socket whose kernel socket no longer receives (shut down for reading) stops receiving instead of spinning', async (t) => {
  const { sim, a, b } = await pair(37);
  const rx = b.dgram.createSocket('udp4');
  await drive(sim, new Promise<void>((r) => rx.bind(9998, () => r())));
  const handle = (rx as unknown as { handle: { fd: number; recvStop(): number; recvStart(): number } }).handle;
  handle.recvStop();
  await b.sys.shutdown(handle.fd, SHUT_RD);
  const events: string[] = [];
  rx.on('message', (m: Buffer) => events.push(`message ${m.length}`));
  rx.on('error', (e: Error) => events.push(`error ${e.message}`));
  handle.recvStart();
  await sim.run(10);
  t.deepEqual(events, [], 'no empty messages, no error: the loop ended');
  rx.close();
  await sim.run(10);
  await a.halt();
  await b.halt();
});

test('a send on a connected dgram socket calls back on a later tick, never inside send() (as node:dgram)', async (t) => {
  const { sim, a, b } = await pair(38);
  const rx = b.dgram.createSocket('udp4');
  await drive(sim, new Promise<void>((r) => rx.bind(9997, () => r())));
  const tx = a.dgram.createSocket('udp4');
  await drive(sim, new Promise<void>((r) => tx.connect(9997, '192.0.2.2', () => r())));
  const order: string[] = [];
  const sent = deferred();
  tx.send(Buffer.from('x'), (err: Error | null) => {
    order.push(`callback ${err === null ? 'ok' : err}`);
    sent.resolve();
  });
  order.push('send returned');
  await drive(sim, sent.promise);
  t.deepEqual(order, ['send returned', 'callback ok']);
  tx.close();
  rx.close();
  await sim.run(10);
  await a.halt();
  await b.halt();
});
