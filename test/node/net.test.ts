/*
 * kernel.net: Node's net on a rump kernel.
 *
 * 1. The scenarios of net-scenarios.ts on node:net over the host loopback
 *    and on kernel.net over a kernel's lo0 give the same events in the same
 *    order and the same errors: connect refused, reset, half-close,
 *    end/close ordering, destroy during write, write after the peer's FIN,
 *    backpressure, server errors.
 * 2. On the simulated clock, two kernels on a bus:
 *
 *        A 192.0.2.1 ── shmif0 ══ bus1 ══ shmif0 ── B 192.0.2.2
 *
 *    a reader that stops reading closes the TCP window and stalls the
 *    writer; a silent peer makes connect fail with ETIMEDOUT; socket
 *    timeouts, keepalive and ref/unref run on the virtual clock.
 */
import test from 'ava';
import hostNet from 'node:net';
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rumpInit, rumpClient, startRumpServer, createSimHost, type RumpKernel } from '../../index.js';
import { Socket as KSocket } from '../../net/socket.js';
import { sototcpcb } from '../../net/inet/tcp/var.js';
import type { TcpHandle } from '../../net/node/handle.js';
import type { NetSocket } from '../../net/node/net.js';
import { netScenarios, type NetLike } from './net-scenarios.js';
import { Trace, deferred, drive, once, simKernel } from './helpers.js';

const NET = ['net', 'net_net', 'net_netinet'];

async function onHost(fn: (n: NetLike, host: string) => Promise<string[]>): Promise<string[]> {
  return fn(hostNet as unknown as NetLike, '127.0.0.1');
}

async function onKernel(fn: (n: NetLike, host: string) => Promise<string[]>): Promise<string[]> {
  const k = await rumpInit({ components: NET });
  try {
    return await fn(k.net as unknown as NetLike, '127.0.0.1');
  } finally {
    await k.halt();
  }
}

for (const [name, fn] of Object.entries(netScenarios)) {
  test(`net ${name}: node:net on the host loopback and kernel.net on lo0 give the same events`, async (t) => {
    const host = await onHost(fn);
    t.log(host.join('\n'));
    const kernel = await onKernel(fn);
    t.deepEqual(kernel, host);
  });
}

test('the same scenarios through rump_server (the client library\'s net) give the same events as node:net', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-net-'));
  const served = await rumpInit({ components: NET });
  const server = await startRumpServer(served, `unix://${join(dir, 'sock')}`);
  const remote = await rumpClient(`unix://${join(dir, 'sock')}`);
  try {
    for (const [name, fn] of Object.entries(netScenarios)) {
      const host = await onHost(fn);
      const viaServer = await fn(remote.net as unknown as NetLike, '127.0.0.1');
      t.deepEqual(viaServer, host, name);
    }
    // One more round trip: the closes still in flight are answered before it, and no poll outlives its descriptor.
    await remote.sys.sysctl('kern.ostype');
    t.is(remote.pending, 0, 'nothing left waiting on the server');
  } finally {
    await remote.close();
    await server.close();
    await served.halt();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The kernel socket behind a kernel.net socket. */
function ksocket(k: RumpKernel, s: NetSocket): KSocket {
  const fd = (s._handle as TcpHandle).fd;
  return k.sys.file(fd) as KSocket;
}

async function pair(seed: number): Promise<{ sim: ReturnType<typeof createSimHost>; a: RumpKernel; b: RumpKernel }> {
  const sim = createSimHost({ seed });
  const a = await simKernel(sim, 'bus1', '192.0.2.1');
  const b = await simKernel(sim, 'bus1', '192.0.2.2');
  return { sim, a, b };
}

test('a reader that stops reading closes the TCP window; the writer waits for drain; every byte arrives', async (t) => {
  const { sim, a, b } = await pair(21);
  const conn = deferred<NetSocket>();
  const srv = b.net.createServer({ pauseOnConnect: true }, (s) => conn.resolve(s));
  await drive(sim, new Promise<void>((r) => srv.listen(9000, () => r())));
  const c = a.net.connect(9000, '192.0.2.2');
  await drive(sim, once(c, 'connect'));
  const s = await drive(sim, conn.promise);

  // Write a pattern until write() says stop, honouring it.
  const total = 4 * 1024 * 1024;
  let written = 0;
  let drains = 0;
  const pattern = (off: number, n: number): Buffer => {
    const buf = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) buf[i] = (off + i) % 251;
    return buf;
  };
  const pump = (): void => {
    while (written < total) {
      const n = Math.min(16384, total - written);
      const ok = c.write(pattern(written, n));
      written += n;
      if (!ok) return;
    }
    c.end();
  };
  c.on('drain', () => {
    drains++;
    pump();
  });
  pump();
  // Nobody reads: the buffers fill, then nothing moves for ten more virtual seconds (persist probes only).
  await sim.run(10_000);
  const stalledAt = written;
  const drainsThen = drains;
  await sim.run(10_000);
  const rcv = ksocket(b, s).rcv;
  const tp = sototcpcb(ksocket(a, c))!;
  t.is(written, stalledAt, 'the writer stalled');
  t.is(drains, drainsThen, 'no drain while the reader is stopped');
  t.true(written < total);
  t.true(rcv.cc >= rcv.hiwat - 1460, `the receiver's buffer filled (${rcv.cc} of ${rcv.hiwat})`);
  t.is(tp.snd_wnd, 0, 'the receiver advertises a zero window');
  t.true(ksocket(a, c).snd.space < 2048, "the sender's buffer is full too");

  // The reader resumes: the window opens, drain comes, and the stream arrives intact.
  let got = 0;
  let bad = -1;
  s.on('data', (d: Buffer) => {
    for (let i = 0; i < d.length && bad < 0; i++) if (d[i] !== (got + i) % 251) bad = got + i;
    got += d.length;
  });
  s.resume();
  await drive(sim, once(s, 'end'));
  t.true(drains > drainsThen);
  t.is(got, total);
  t.is(bad, -1, 'bytes arrive in order, unchanged');
  s.end();
  await drive(sim, Promise.all([once(c, 'close'), once(s, 'close')]));
  await drive(sim, new Promise<void>((r) => srv.close(() => r())));
  await a.halt();
  await b.halt();
});

test('connect to a peer that went silent fails with ETIMEDOUT after the connection-establishment timer', async (t) => {
  const { sim, a, b } = await pair(22);
  // One connection first, so A knows B's MAC; then B leaves the bus without a word.
  const srv = b.net.createServer((s) => s.end());
  await drive(sim, new Promise<void>((r) => srv.listen(80, () => r())));
  const first = a.net.connect(80, '192.0.2.2');
  first.resume();
  await drive(sim, once(first, 'close'));
  await b.netconfig.ifdestroy('shmif0');
  const trace = new Trace();
  const c = a.net.connect({ port: 80, host: '192.0.2.2' });
  c.on('error', (e) => trace.error('c', e));
  c.on('close', (h: boolean) => trace.add(`c close hadError=${h}`));
  const started = sim.now();
  await drive(sim, once(c, 'close'));
  const took = sim.now() - started;
  t.deepEqual(trace.lines, ['c error ETIMEDOUT syscall=connect address=192.0.2.2 port=ephemeral', 'c close hadError=true']);
  t.true(took >= 60_000 && took <= 90_000, `gave up after ${took} ms (TCP_KEEPINIT, 75 s)`);
  srv.close();
  await a.halt();
  await b.halt();
});

test('setTimeout fires on the kernel clock after idleness, activity pushes it back, 0 cancels it', async (t) => {
  const { sim, a, b } = await pair(23);
  const srv = b.net.createServer((s) => s.resume());
  await drive(sim, new Promise<void>((r) => srv.listen(7, () => r())));
  const c = a.net.connect(7, '192.0.2.2');
  await drive(sim, once(c, 'connect'));
  const fired: number[] = [];
  const start = sim.now();
  c.setTimeout(5000, () => fired.push(sim.now() - start));
  t.is(c.timeout, 5000);
  await sim.run(3000);
  c.write('activity');
  await sim.run(3000);
  t.deepEqual(fired, [], 'a write at 3 s moved the deadline to 8 s');
  await sim.run(2500);
  t.is(fired.length, 1);
  t.true(fired[0]! >= 8000 && fired[0]! < 8100, `fired at ${fired[0]} ms`);
  t.false(c.destroyed, "'timeout' only tells; the socket stays open");
  c.setTimeout(1000);
  c.setTimeout(0);
  await sim.run(5000);
  t.is(fired.length, 1);
  c.destroy();
  await drive(sim, once(c, 'close'));
  srv.close();
  await a.halt();
  await b.halt();
});

test('ref, unref and the process hold: a listening server and reading sockets keep the host alive until closed or unref()ed', async (t) => {
  const sim = createSimHost({ seed: 24 });
  const k = await simKernel(sim, 'bus1', '192.0.2.1');
  // Whether the host is held alive (the handles of one kernel share one host hold).
  const seen: Array<[string, boolean]> = [];
  const note = (what: string): void => void seen.push([what, sim.holds() > 0]);
  note('idle');
  const accepted = deferred<NetSocket>();
  const srv = k.net.createServer((s) => accepted.resolve(s));
  await drive(sim, new Promise<void>((r) => srv.listen(7, () => r())));
  note('listening');
  srv.unref();
  note('listening, unref');
  srv.ref();
  const c = k.net.connect(7, '192.0.2.1');
  await drive(sim, once(c, 'connect'));
  const s = await drive(sim, accepted.promise);
  note('server, client and accepted socket reading');
  c.unref();
  note('client unref');
  c.destroy();
  await drive(sim, Promise.all([once(c, 'close'), once(s, 'close'), new Promise<void>((r) => srv.close(() => r()))]));
  await sim.run(1);
  note('all closed');
  t.deepEqual(seen, [
    ['idle', false],
    ['listening', true],
    ['listening, unref', false],
    ['server, client and accepted socket reading', true],
    ['client unref', true],
    ['all closed', false],
  ]);
  await k.halt();
});

test('setNoDelay and setKeepAlive reach the kernel socket (TCP_NODELAY, SO_KEEPALIVE, TCP_KEEPIDLE in seconds)', async (t) => {
  const { sim, a, b } = await pair(25);
  const accepted = deferred<NetSocket>();
  const srv = b.net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 }, (s) => accepted.resolve(s));
  await drive(sim, new Promise<void>((r) => srv.listen(7, () => r())));
  const c = a.net.connect({ port: 7, host: '192.0.2.2', noDelay: true });
  await drive(sim, once(c, 'connect'));
  const s = await drive(sim, accepted.promise);
  const fd = (c._handle as TcpHandle).fd;
  t.is(await a.sys.getsockopt(fd, 6, 1), 1, 'TCP_NODELAY from the connect option');
  t.is(await a.sys.getsockopt(fd, 0xffff, 0x0008), 0, 'no SO_KEEPALIVE yet');
  c.setKeepAlive(true, 45_000);
  t.is(await a.sys.getsockopt(fd, 0xffff, 0x0008), 1);
  t.is(sototcpcb(ksocket(a, c))!.t_keepidle, 45_000);
  c.setNoDelay(false);
  t.is(await a.sys.getsockopt(fd, 6, 1), 0);
  // The server's options apply to every accepted connection.
  const so = ksocket(b, s);
  t.not(so.options & 0x0008, 0, 'SO_KEEPALIVE on the accepted socket');
  t.is(sototcpcb(so)!.t_keepidle, 30_000);
  t.is(await b.sys.getsockopt((s._handle as TcpHandle).fd, 6, 1), 1, 'TCP_NODELAY on the accepted socket');
  c.destroy();
  await drive(sim, once(c, 'close'));
  srv.close();
  await a.halt();
  await b.halt();
});

test('keepalive gives up on a peer that vanished: the read fails with ETIMEDOUT', async (t) => {
  const { sim, a, b } = await pair(26);
  const srv = b.net.createServer((s) => s.resume());
  await drive(sim, new Promise<void>((r) => srv.listen(7, () => r())));
  const c = a.net.connect(7, '192.0.2.2');
  await drive(sim, once(c, 'connect'));
  c.setKeepAlive(true, 10_000);
  const trace = new Trace();
  c.on('error', (e) => trace.error('c', e));
  c.on('close', (h: boolean) => trace.add(`c close hadError=${h}`));
  await b.netconfig.ifdestroy('shmif0');
  const started = sim.now();
  await drive(sim, once(c, 'close'), 3_600_000);
  const took = sim.now() - started;
  t.deepEqual(trace.lines, ['c error ETIMEDOUT syscall=read', 'c close hadError=true']);
  // NetBSD's defaults after the idle time: 8 probes 75 s apart.
  t.true(took >= 10_000 + 8 * 75_000 - 1000 && took <= 10_000 + 9 * 75_000, `gave up after ${took} ms`);
  srv.close();
  await a.halt();
  await b.halt();
});

test('a write after the peer reset the connection fails with EPIPE (BSD: the connection is gone; Linux answers the first such write with ECONNRESET)', async (t) => {
  const { sim, a, b } = await pair(27);
  const srv = b.net.createServer((s) => s.resetAndDestroy());
  await drive(sim, new Promise<void>((r) => srv.listen(7, () => r())));
  // Not reading, so the RST is not noticed by a read first.
  const c = a.net.connect(7, '192.0.2.2');
  c.pause();
  await drive(sim, once(c, 'connect'));
  await sim.run(1000);
  const trace = new Trace();
  c.on('error', (e) => trace.error('c', e));
  c.on('close', (h: boolean) => trace.add(`c close hadError=${h}`));
  c.write('into the void', (err) => trace.add(`c write cb ${(err as { code?: string } | null | undefined)?.code}`));
  await drive(sim, once(c, 'close'));
  t.deepEqual(trace.lines, ['c write cb EPIPE', 'c error EPIPE syscall=write', 'c close hadError=true']);
  srv.close();
  await a.halt();
  await b.halt();
});
