// The `stream` feature of sysproxy (PROTOCOL.md, "Stream calls"): rumpClient's
// Node faces writing and reading TCP on a served kernel without a round trip
// per call, each byte crossing the unix socket once.
import test from 'ava';
import { createHash } from 'node:crypto';
import type net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { rumpInit } from '../../index.js';
import { startRumpServer } from '../../sysproxy/server.js';
import { rumpClient, type RumpClient } from '../../sysproxy/client.js';
import { EBADF, ENOBUFS, Errno } from '../../kern/errno.js';
import { AF_INET, RLIMIT_NOFILE, SOCK_STREAM } from '../../kern/sys.js';
import { SOL_SOCKET, SO_RCVBUF } from '../../net/socket.js';
import { CONNECTION_BUFFER } from '../../sysproxy/protocol.js';
import { streamBuffers } from '../../hypercall/node.js';
import { tempDir } from './helpers.js';

async function served() {
  const tmp = tempDir();
  const kernel = await rumpInit({ components: ['net', 'net_net', 'net_netinet'], env: {} });
  const server = await startRumpServer(kernel, `unix://${join(tmp.dir, 'sock')}`);
  const c = await rumpClient(server.url);
  return {
    c,
    kernel,
    server,
    async done() {
      await c.close();
      await server.close();
      await kernel.halt();
      tmp.remove();
    },
  };
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed + (i >> 12)) & 0xff;
  return b;
}

/** Bytes the client has written to its server so far. */
function wireBytes(c: RumpClient): number {
  return (c as unknown as { socket: net.Socket }).socket.bytesWritten;
}

/** A sink server on the served kernel; resolves with what it received once the writer ended. */
function sink(c: RumpClient, port: number): Promise<{ listening: Promise<void>; got: Promise<Buffer> }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let gotIt!: (b: Buffer) => void;
    const got = new Promise<Buffer>((r) => (gotIt = r));
    const server = c.net.createServer((s) => {
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => {
        s.end();
        server.close();
        gotIt(Buffer.concat(chunks));
      });
    });
    const listening = new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    resolve({ listening, got });
  });
}

test('the server offers the stream, accept and dgram features in its banner', async (t) => {
  const s = await served();
  t.deepEqual(s.c.banner.features, ['stream', 'accept', 'dgram']);
  t.truthy(s.c.faceEnv.streams);
  await s.done();
});

test('one 8 MiB write arrives intact, and each byte crosses the unix socket once', async (t) => {
  const s = await served();
  const payload = pattern(8 << 20, 1);
  const { listening, got } = await sink(s.c, 7001);
  await listening;
  const before = wireBytes(s.c);
  const stats = async (): Promise<Record<string, number>> => (await s.kernel.sys.sysctl('net.inet.tcp.stats')) as Record<string, number>;
  const delackBefore = (await stats())['delack'] ?? 0;
  const sock = s.c.net.connect(7001, '127.0.0.1');
  sock.end(payload);
  const received = await got;
  t.is(received.length, payload.length);
  t.true(received.equals(payload), 'the bytes arrive in order');
  // Frames and the other calls add a little; a write re-sent in part would add megabytes.
  const sent = wireBytes(s.c) - before;
  t.true(sent < payload.length * 1.02, `${sent} bytes on the wire for ${payload.length}`);
  // The stream kept moving by itself: with a send buffer below lo0's MSS, every one of
  // the 256 segments waited for the 200 ms delayed-ACK timer instead.
  const delacks = ((await stats())['delack'] ?? 0) - delackBefore;
  t.true(delacks <= 8, `${delacks} delayed ACKs for 8 MiB over lo0`);
  await s.done();
});

/** Record every sendall the faces make: its size, whether it is a view of `payload`, the most unanswered at once. */
interface Sendalls {
  sizes: number[];
  copies: number;
  inflight: number;
  maxInflight: number;
  restore: () => void;
}

function countSendalls(c: RumpClient, payload: Buffer): Sendalls {
  const streams = c.faceEnv.streams!;
  const real = streams.sendall.bind(streams);
  const seen: Sendalls = { sizes: [], copies: 0, inflight: 0, maxInflight: 0, restore: () => undefined };
  streams.sendall = (fd, data) => {
    seen.sizes.push(data.length);
    if (data.buffer !== payload.buffer) seen.copies++;
    seen.inflight += data.length;
    seen.maxInflight = Math.max(seen.maxInflight, seen.inflight);
    return real(fd, data).finally(() => (seen.inflight -= data.length));
  };
  seen.restore = () => void (streams.sendall = real);
  return seen;
}

test('one 32 MiB write goes out as the same 64 KiB views, with the same window, as 512 writes of 64 KiB, and arrives intact (sha256)', async (t) => {
  const s = await served();
  t.teardown(() => s.done());
  const payload = pattern(32 << 20, 3);
  const want = createHash('sha256').update(payload).digest('hex');
  const runs: Sendalls[] = [];
  for (const [port, one] of [[7011, true], [7012, false]] as const) {
    const { listening, got } = await sink(s.c, port);
    await listening;
    const sock = s.c.net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.on('connect', () => r()));
    const seen = countSendalls(s.c, payload);
    if (one) sock.end(payload);
    else {
      for (let off = 0; off < payload.length; off += 64 << 10) sock.write(payload.subarray(off, off + (64 << 10)));
      sock.end();
    }
    const received = await got;
    t.is(received.length, payload.length);
    t.is(createHash('sha256').update(received).digest('hex'), want, 'every byte arrives, in order');
    seen.restore();
    runs.push(seen);
  }
  const [single, many] = runs as [Sendalls, Sendalls];
  // A big write cut into copied pieces, or sent in smaller pieces or a smaller window than small writes, shows here.
  t.is(single.copies, 0, 'the pieces of one write are views of it, not copies');
  t.is(single.sizes.length, 512);
  t.true(single.sizes.every((n) => n === 64 << 10), 'pieces of 64 KiB');
  t.deepEqual(single.sizes, many.sizes);
  t.is(single.maxInflight, 1 << 20, 'a window of 1 MiB for one write');
  t.is(many.maxInflight, 1 << 20, 'and for many');
});

test('512 writes made without waiting for drain arrive in order, and an echo comes back intact', async (t) => {
  const s = await served();
  const server = s.c.net.createServer((sock) => sock.pipe(sock));
  await new Promise<void>((r) => server.listen(7002, '127.0.0.1', () => r()));
  const sock = s.c.net.connect(7002, '127.0.0.1');
  const pieces: Buffer[] = [];
  for (let i = 0; i < 512; i++) pieces.push(pattern(4096 + (i % 7) * 1000, i));
  const want = Buffer.concat(pieces);
  const chunks: Buffer[] = [];
  sock.on('data', (d: Buffer) => chunks.push(d));
  const ended = new Promise<void>((r) => sock.on('end', () => r()));
  for (const p of pieces) sock.write(p);
  sock.end();
  await ended;
  const back = Buffer.concat(chunks);
  t.is(back.length, want.length);
  t.true(back.equals(want));
  server.close();
  await s.done();
});

test('a reader that pauses holds the data back and gets all of it on resume', async (t) => {
  const s = await served();
  const payload = pattern(3 << 20, 9);
  const server = s.c.net.createServer((sock) => sock.end(payload));
  await new Promise<void>((r) => server.listen(7003, '127.0.0.1', () => r()));
  const sock = s.c.net.connect(7003, '127.0.0.1');
  const chunks: Buffer[] = [];
  let paused = false;
  sock.on('data', (d: Buffer) => {
    chunks.push(d);
    if (!paused) {
      paused = true;
      sock.pause();
      setTimeout(() => sock.resume(), 50);
    }
  });
  await new Promise<void>((r) => sock.on('end', () => r()));
  t.true(Buffer.concat(chunks).equals(payload));
  server.close();
  await s.done();
});

test('without the feature (an older server) the faces fall back to send and recv, and still deliver', async (t) => {
  const s = await served();
  s.c.banner.features = undefined; // before the faces are first made
  t.is(s.c.faceEnv.streams, undefined);
  const payload = pattern(1 << 20, 3);
  const { listening, got } = await sink(s.c, 7004);
  await listening;
  s.c.net.connect(7004, '127.0.0.1').end(payload);
  t.true((await got).equals(payload));
  await s.done();
});

test('a recvwait on a descriptor that is closed ends with EBADF; sendall beyond what the server holds is ENOBUFS', async (t) => {
  const s = await served();
  const sys = s.c.sys;
  const streams = s.c.faceEnv.streams!;
  const lfd = await sys.socket(AF_INET, SOCK_STREAM, 0);
  const sin = { family: AF_INET, addr: '127.0.0.1', port: 7005 };
  await sys.bind(lfd, sin);
  await sys.listen(lfd, 1);
  const cfd = await sys.socket(AF_INET, SOCK_STREAM, 0);
  const accepted = sys.accept(lfd);
  await sys.connect(cfd, sin);
  const { fd } = await accepted;

  const waiting = streams.recvwait(fd, 100);
  await sys.close(fd);
  const e = await t.throwsAsync(waiting);
  t.true(e instanceof Errno && e.errno === EBADF, String(e));

  // Nobody reads cfd's peer (closed): one sendall bigger than the 4 MiB the server holds per socket.
  const big = await t.throwsAsync(streams.sendall(cfd, new Uint8Array((4 << 20) + 1)));
  t.true(big instanceof Errno && big.errno === ENOBUFS, String(big));
  // The connection goes on.
  t.is(await sys.sysctl('hw.ncpu'), 2);
  await s.done();
});

test('a recvwait answers with all the receive buffer holds, up to its length, not one segment of it', async (t) => {
  const s = await served();
  const sys = s.c.sys;
  const lfd = await sys.socket(AF_INET, SOCK_STREAM, 0);
  await sys.setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, 1 << 20); // accepted sockets inherit it: room for all
  const sin = { family: AF_INET, addr: '127.0.0.1', port: 7006 };
  await sys.bind(lfd, sin);
  await sys.listen(lfd, 1);
  const cfd = await sys.socket(AF_INET, SOCK_STREAM, 0);
  const accepted = sys.accept(lfd);
  await sys.connect(cfd, sin);
  const { fd } = await accepted;
  const payload = pattern(300_000, 11);
  for (let off = 0; off < payload.length; ) off += await sys.write(cfd, payload.subarray(off));
  // Until every segment is in: lo0 carries it in many (records of their own in the receive buffer).
  while (((await sys.ioctl(fd, 'FIONREAD')) as number) < payload.length) await sys.sysctl('hw.ncpu');
  const answer = await s.c.faceEnv.streams!.recvwait(fd, 256 << 10);
  const got = Buffer.concat(Array.isArray(answer) ? answer : [answer]);
  t.is(got.length, 256 << 10);
  t.true(got.equals(payload.subarray(0, 256 << 10)));
  const rest = await s.c.faceEnv.streams!.recvwait(fd, 256 << 10);
  t.true(Buffer.concat(Array.isArray(rest) ? rest : [rest]).equals(payload.subarray(256 << 10)));
  await s.done();
});

test('a server that sends a malformed frame after HELLO is dropped: sys calls fail with ENOTCONN, face sockets with ECONNRESET', async (t) => {
  const { encodeServerHello } = await import('../../sysproxy/protocol.js');
  const tmp = tempDir();
  const path = join(tmp.dir, 'evil');
  const netm = await import('node:net');
  let peer: import('node:net').Socket | null = null;
  const evil = netm.default.createServer((s) => {
    peer = s;
    s.once('data', () => {
      s.write(encodeServerHello({ version: 'evil', ostype: 'NetBSD', hostname: 'x', pid: 1, features: ['stream'] }));
      // The first calls are answered with a frame length beyond the limit.
      s.once('data', () => s.write(Buffer.from([0xff, 0xff, 0xff, 0x7f, 3])));
    });
  });
  await new Promise<void>((r) => evil.listen(path, () => r()));
  const c = await rumpClient(`unix://${path}`);
  const pending = c.sys.sysctl('hw.ncpu');
  const sock = c.net.connect(7, '127.0.0.1');
  const err = await new Promise<NodeJS.ErrnoException>((r) => sock.on('error', r));
  const e = await t.throwsAsync(pending);
  t.true(e instanceof Errno && e.code === 'ENOTCONN', String(e));
  t.true(e!.message.includes(`unix://${path}`), e!.message);
  t.is(err.code, 'ECONNRESET');
  (peer as import('node:net').Socket | null)?.destroy();
  await new Promise((r) => evil.close(r));
  tmp.remove();
});

test('stream calls with arguments of the wrong shape get EINVAL or EBADF, and the client goes on', async (t) => {
  const s = await served();
  const call = (s.c as unknown as { call(m: string, a: unknown[]): Promise<unknown> }).call.bind(s.c);
  for (const [method, args, code] of [
    ['sendall', [3, 'not bytes'], 'EINVAL'],
    ['sendall', ['3', new Uint8Array(1)], 'EBADF'],
    ['recvwait', [3, 0], 'EBADF'],
    ['recvwait', [3, 'many'], 'EINVAL'],
    ['sendall', [999, new Uint8Array(1)], 'EBADF'],
  ] as const) {
    const e = await t.throwsAsync(call(method, [...args]));
    t.is((e as Errno).code, code, `${method}(${JSON.stringify(args)}): ${String(e)}`);
  }
  // Descriptor numbers that are not open leave nothing behind in the server.
  for (let fd = 100; fd < 1100; fd++) call('recvwait', [fd, 10]).catch(() => {});
  t.is(await s.c.sys.sysctl('hw.ncpu'), 2);
  const conns = (s.server as unknown as { conns: Set<{ tails: Map<number, unknown> }> }).conns;
  t.deepEqual([...conns].map((c) => c.tails.size), [0]);
  await s.done();
});

/** Count the calls a client makes, by method. */
function countCalls(c: RumpClient): Map<string, number> {
  const counts = new Map<string, number>();
  const inner = c as unknown as { call(m: string, a: unknown[], f?: boolean): Promise<unknown> };
  const call = inner.call.bind(c);
  inner.call = (m, a, f) => {
    counts.set(m, (counts.get(m) ?? 0) + 1);
    return call(m, a, f);
  };
  return counts;
}

test('a remote listener takes a burst of connections from acceptwaits waiting ahead: no accept, poll or name call per connection', async (t) => {
  const s = await served();
  const other = await rumpClient(s.server.url);
  const N = 300;
  const counts = countCalls(s.c);
  const peers = new Map<number, number>();
  const server = s.c.net.createServer((sock) => {
    peers.set(sock.remotePort!, sock.localPort!);
    t.is(sock.remoteAddress, '127.0.0.1');
    sock.end();
  });
  await new Promise<void>((r) => server.listen(7010, '127.0.0.1', () => r()));
  const before = new Map(counts);
  // Every connection from the other client (another process on the same kernel), all at once.
  const locals = await Promise.all(Array.from({ length: N }, () => new Promise<number>((resolve, reject) => {
    const c = other.net.connect(7010, '127.0.0.1', () => resolve(c.localPort!));
    c.on('error', reject);
    c.resume();
  })));
  while (peers.size < N) await new Promise((r) => setImmediate(r));
  // Each accepted socket knows its peer (the connecting socket's port) and its own port.
  t.deepEqual([...peers.keys()].sort(), [...locals].sort());
  t.true([...peers.values()].every((p) => p === 7010));
  const made = (m: string): number => (counts.get(m) ?? 0) - (before.get(m) ?? 0);
  for (const m of ['accept', 'poll', 'fcntl', 'getsockname', 'getpeername']) t.is(made(m), 0, `${m} calls`);
  t.true(made('acceptwait') <= N + 32, `acceptwait calls: ${made('acceptwait')}`);
  server.close();
  await other.close();
  await s.done();
});

test('datagrams to a remote dgram socket come from recvfromwaits waiting ahead: boundaries, sources and empty datagrams kept, no poll or recvfrom', async (t) => {
  const s = await served();
  const other = await rumpClient(s.server.url);
  const counts = countCalls(s.c);
  const rx = s.c.dgram.createSocket('udp4');
  await new Promise<void>((r) => rx.bind(7020, '127.0.0.1', () => r()));
  const N = 200;
  const got: Array<{ len: number; first: number; port: number; address: string }> = [];
  const all = new Promise<void>((resolve) => rx.on('message', (m, rinfo) => {
    got.push({ len: m.length, first: m.length > 0 ? m[0]! : -1, port: rinfo.port, address: rinfo.address });
    if (got.length === N) resolve();
  }));
  const before = new Map(counts);
  const tx = other.dgram.createSocket('udp4');
  await new Promise<void>((r) => tx.bind(7021, '127.0.0.1', () => r()));
  for (let i = 0; i < N; i++) {
    // Sizes 0 .. 1990 bytes; each waits for the last so the receive buffer never overflows.
    const b = Buffer.alloc((i * 10) % 2000, i & 0xff);
    await new Promise<void>((r, j) => tx.send(b, 7020, '127.0.0.1', (e) => (e ? j(e) : r())));
  }
  await all;
  got.forEach((g, i) => {
    const len = (i * 10) % 2000;
    t.deepEqual(g, { len, first: len > 0 ? i & 0xff : -1, port: 7021, address: '127.0.0.1' });
  });
  const made = (m: string): number => (counts.get(m) ?? 0) - (before.get(m) ?? 0);
  t.is(made('poll'), 0);
  t.is(made('recvfrom'), 0);
  t.true(made('recvfromwait') <= N + 4, `recvfromwait calls: ${made('recvfromwait')}`);
  rx.close();
  tx.close();
  await other.close();
  await s.done();
});

test('a server without the accept and dgram features (older) still gets connections and datagrams through accept and recvfrom', async (t) => {
  const s = await served();
  s.c.banner.features = ['stream'];
  t.is(s.c.faceEnv.streams!.acceptwait, undefined);
  t.is(s.c.faceEnv.streams!.recvfromwait, undefined);
  const counts = countCalls(s.c);
  const server = s.c.net.createServer((sock) => sock.end('hi'));
  await new Promise<void>((r) => server.listen(7030, '127.0.0.1', () => r()));
  const c = s.c.net.connect(7030, '127.0.0.1');
  const chunks: Buffer[] = [];
  c.on('data', (d: Buffer) => chunks.push(d));
  await new Promise<void>((r) => c.on('end', () => r()));
  t.is(Buffer.concat(chunks).toString(), 'hi');
  const rx = s.c.dgram.createSocket('udp4');
  await new Promise<void>((r) => rx.bind(7031, '127.0.0.1', () => r()));
  const msg = new Promise<Buffer>((r) => rx.once('message', (m) => r(m)));
  rx.send('ping', 7031, '127.0.0.1');
  t.is((await msg).toString(), 'ping');
  t.true((counts.get('accept') ?? 0) > 0);
  t.true((counts.get('recvfrom') ?? 0) > 0);
  rx.close();
  server.close();
  await s.done();
});

test('a remote listener out of descriptors reports EMFILE once per backoff, not once per waiting accept, and takes the connections once there is room', async (t) => {
  const s = await served();
  const other = await rumpClient(s.server.url);
  const accepted: net.Socket[] = [];
  const errors: string[] = [];
  const server = s.c.net.createServer((sock) => accepted.push(sock));
  server.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? String(e)));
  await new Promise<void>((r) => server.listen(7040, '127.0.0.1', () => r()));
  const lim = await s.c.sys.getrlimit(RLIMIT_NOFILE);
  // The listener is descriptor 3: room for two more.
  await s.c.sys.setrlimit(RLIMIT_NOFILE, { cur: 6, max: lim.max });
  const clients = Array.from({ length: 5 }, () => other.net.connect(7040, '127.0.0.1').on('error', () => {}));
  while (accepted.length < 2 || errors.length === 0) await new Promise((r) => setImmediate(r));
  // The 31 other accepts waiting in the server fail at once too; they are not reported.
  await new Promise((r) => setTimeout(r, 30));
  t.deepEqual(errors, ['EMFILE']);
  t.is(accepted.length, 2);
  await s.c.sys.setrlimit(RLIMIT_NOFILE, lim);
  while (accepted.length < 5) await new Promise((r) => setImmediate(r));
  t.is(accepted.length, 5);
  for (const c of clients) c.destroy();
  server.close();
  await other.close();
  await s.done();
});

test('both ends of a sysproxy connection have host socket buffers of CONNECTION_BUFFER (as far as net.core.wmem_max and rmem_max allow)', async (t) => {
  let wmax: number;
  let rmax: number;
  try {
    wmax = Number(readFileSync('/proc/sys/net/core/wmem_max', 'utf8'));
    rmax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  } catch {
    t.pass('skipped: no /proc/sys/net/core (not Linux)');
    return;
  }
  const s = await served();
  const conns = [...(s.server as unknown as { conns: Set<{ socket: net.Socket }> }).conns];
  t.is(conns.length, 1);
  for (const [who, sock] of [['client', (s.c as unknown as { socket: net.Socket }).socket], ['server', conns[0]!.socket]] as const) {
    const got = streamBuffers(sock);
    t.truthy(got, `${who}: the buffers can be read`);
    // Linux reports twice what was set (its bookkeeping), and clamps what was set to the maximum.
    t.true(got![0] >= 2 * Math.min(CONNECTION_BUFFER, wmax), `${who}: send buffer ${got![0]}`);
    t.true(got![1] >= 2 * Math.min(CONNECTION_BUFFER, rmax), `${who}: receive buffer ${got![1]}`);
  }
  await s.done();
});

test('data read from the server is handed up from read slabs intact; big answers come in chunks larger than a 64 KiB read, small ones own their bytes', async (t) => {
  const s = await served();
  const chunks: Buffer[] = [];
  let got = 0;
  let want = 0;
  let reached: (() => void) | null = null;
  const server = s.c.net.createServer((sock) =>
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= want && reached !== null) reached();
    }),
  );
  await new Promise<void>((r) => server.listen(7010, '127.0.0.1', () => r()));
  const until = (n: number): Promise<void> => {
    want = n;
    return got >= n ? Promise.resolve() : new Promise<void>((r) => (reached = r));
  };
  const sys = s.kernel.sys;
  const fd = await sys.socket(AF_INET, SOCK_STREAM, 0);
  await sys.connect(fd, { family: AF_INET, addr: '127.0.0.1', port: 7010 });
  const writeAll = async (b: Uint8Array): Promise<void> => {
    for (let off = 0; off < b.length; ) off += await sys.write(fd, b.subarray(off));
  };
  // Small answers first, one at a time, then 24 MiB: many slabs filled and left behind.
  const small = pattern(100, 3);
  for (let i = 1; i <= 5; i++) {
    await writeAll(small);
    await until(100 * i);
  }
  const big = pattern(24 << 20, 5);
  await writeAll(big);
  await until(500 + big.length);
  const all = Buffer.concat(chunks);
  t.true(all.subarray(0, 500).equals(Buffer.concat([small, small, small, small, small])));
  t.true(all.subarray(500).equals(big), 'every byte intact, though later reads reuse what is left of a slab');
  t.true(Math.max(...chunks.map((c) => c.length)) > 64 << 10, 'some chunk came from one read larger than 64 KiB');
  // A small chunk is a copy of its own: keeping it must not keep a 1 MiB slab alive.
  for (const c of chunks.slice(0, 5)) t.true(c.buffer.byteLength <= c.length + 16, `a ${c.length}-byte chunk holds ${c.buffer.byteLength} bytes`);
  await sys.close(fd);
  server.close();
  await s.done();
});

test('recvwait answers are copied into the connection, not lent: the served kernel reuses its clusters instead of making one per segment', async (t) => {
  const s = await served();
  // Count the cluster buffers the served kernel's pool makes from now on.
  const host = s.kernel.host;
  const alloc = host.allocUninit.bind(host);
  let fresh = 0;
  host.allocUninit = (n: number) => {
    fresh++;
    return alloc(n);
  };
  let got = 0;
  let reached: (() => void) | null = null;
  const want = 16 << 20;
  const received = new Promise<void>((r) => (reached = r));
  const hash = createHash('sha256');
  const server = s.c.net.createServer((sock) =>
    sock.on('data', (d: Buffer) => {
      hash.update(d);
      got += d.length;
      if (got >= want) reached!();
    }),
  );
  await new Promise<void>((r) => server.listen(7011, '127.0.0.1', () => r()));
  const sys = s.kernel.sys;
  const fd = await sys.socket(AF_INET, SOCK_STREAM, 0);
  await sys.connect(fd, { family: AF_INET, addr: '127.0.0.1', port: 7011 });
  const payload = pattern(want, 9);
  for (let off = 0; off < payload.length; ) off += await sys.write(fd, payload.subarray(off));
  await received;
  t.is(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'));
  // Lent to the answers, each of the 16 MiB's segments (36 KiB clusters on lo0) would take a new one: over 450.
  t.true(fresh < 100, `${fresh} cluster buffers made for 16 MiB`);
  host.allocUninit = alloc;
  await sys.close(fd);
  server.close();
  await s.done();
});
