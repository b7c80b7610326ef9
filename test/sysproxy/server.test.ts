// A rump server on a temporary unix socket, serving an in-process kernel,
// and clients making system calls on it through the sysproxy protocol.
import test from 'ava';
import net from 'node:net';
import { existsSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { startRumpServer, SOCKET_MODE } from '../../sysproxy/server.js';
import { rumpClient } from '../../sysproxy/client.js';
import {
  FrameReader, FRAME_CALL, FRAME_CLOSE, FRAME_ERROR, FRAME_HELLO, FRAME_RESULT, PROTOCOL_VERSION, MAX_IO, encodeEmptyFrame, encodeClientHello, encodeFrame, MAX_FRAME_LENGTH,
} from '../../sysproxy/protocol.js';
import { decode } from '../../sysproxy/codec.js';
import { Errno, ENOBUFS, ETIMEDOUT, EINVAL, EIO, EADDRINUSE, EAFNOSUPPORT, EAGAIN, EBADF, ENOENT, ENOSYS, ENOTCONN, EPROTONOSUPPORT, ESHUTDOWN } from '../../kern/errno.js';
import { AF_INET, SOCK_DGRAM, F_SETFL, O_NONBLOCK, type PollFd } from '../../kern/sys.js';
import { POLLIN } from '../../kern/select.js';
import { createSimHost } from '../../hypercall/sim.js';
import { AF_LOCAL, RawPeer, mailboxKernel, tempDir } from './helpers.js';

const box = (port: number) => ({ family: AF_LOCAL, addr: 'mailbox', port });

/** A server on a fresh socket; `done()` closes it, halts the kernel, removes the directory. */
async function serve(host?: Parameters<typeof mailboxKernel>[0]) {
  const tmp = tempDir();
  const path = join(tmp.dir, 'sock');
  const { kernel, mailboxes } = mailboxKernel(host);
  const server = await startRumpServer(kernel, `unix://${path}`);
  return {
    path,
    url: `unix://${path}`,
    kernel,
    mailboxes,
    server,
    async done() {
      await server.close();
      await kernel.halt();
      tmp.remove();
    },
  };
}

test('a client says HELLO and gets the banner', async (t) => {
  const s = await serve();
  const c = await rumpClient(s.url);
  t.is(c.banner.ostype, 'NetBSD');
  t.regex(c.banner.hostname, /^rump-/);
  t.is(c.banner.pid, process.pid);
  t.regex(c.banner.version, /rumpnet/);
  t.is(c.url, s.url);
  await c.close();
  await s.done();
});

test('sysctl reads the server kernel: hw.ncpu is 2, kern.hostname is rump-PID.HOST', async (t) => {
  const s = await serve();
  const c = await rumpClient(s.url);
  t.is(await c.sys.sysctl('hw.ncpu'), 2);
  const hostname = await c.sys.sysctl('kern.hostname');
  t.is(hostname, s.kernel.hostname);
  t.regex(String(hostname), /^rump-/);
  await c.sys.sysctlSet('kern.hostname', 'renamed');
  t.is(s.kernel.hostname, 'renamed');
  const list = await c.sys.sysctlList('kern');
  t.true(list.some((e) => e.name === 'kern.ostype' && e.value === 'NetBSD'));
  await c.close();
  await s.done();
});

test('a failing call rejects with a real Errno: number, code and syscall from the server', async (t) => {
  const s = await serve();
  const c = await rumpClient(s.url);
  const err = await t.throwsAsync(c.sys.socket(AF_INET, SOCK_DGRAM, 0), { instanceOf: Errno });
  t.is(err.errno, EAFNOSUPPORT);
  t.is(err.code, 'EAFNOSUPPORT');
  t.is(err.syscall, 'socket');
  t.is(err.message, 'Address family not supported by protocol family', 'the message the server kernel gave');
  const bad = await t.throwsAsync(c.sys.close(42), { instanceOf: Errno });
  t.is(bad.errno, EBADF);
  t.is(bad.syscall, 'close');
  await c.close();
  await s.done();
});

test('the unix socket is created mode 0600 and removed by close()', async (t) => {
  const s = await serve();
  const st = statSync(s.path);
  t.true(st.isSocket());
  t.is(st.mode & 0o777, SOCKET_MODE);
  t.is(SOCKET_MODE, 0o600);
  await s.server.close();
  t.false(existsSync(s.path));
  await s.done();
});

test('only the system calls of Sys and halt are callable: anything else is ENOSYS, and the client goes on', async (t) => {
  const s = await serve();
  const c = await rumpClient(s.url);
  const call = (c as unknown as { call(m: string, a: unknown[]): Promise<unknown> }).call.bind(c);
  for (const name of ['closeAll', 'fdalloc', 'file', 'extend', 'openFds', 'constructor', '__proto__', 'toString', 'run', 'nope']) {
    const err = await t.throwsAsync(call(name, []), { instanceOf: Errno }, name);
    t.is(err.errno, ENOSYS, name);
  }
  t.is(await c.sys.sysctl('hw.ncpu'), 2);
  // ext: a call no component added is ENOSYS too, from the kernel.
  const ext = await t.throwsAsync(c.sys.ext('rtmsg', { type: 'get', dst: 'default' }), { instanceOf: Errno });
  t.is(ext.errno, ENOSYS);
  t.is(ext.syscall, 'rtmsg');
  await c.close();
  await s.done();
});

test('each client is a process: its own descriptor table, closed when it goes away', async (t) => {
  const s = await serve();
  const a = await rumpClient(s.url);
  const b = await rumpClient(s.url);
  const fa = await a.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  const fb = await b.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  t.is(fa, 3, 'a process\'s first descriptor is 3');
  t.is(fb, 3, 'and so is the other process\'s');
  await a.sys.bind(fa, box(1));
  await b.sys.bind(fb, box(2));
  t.deepEqual(await a.sys.getsockname(fa), box(1));
  t.deepEqual(await b.sys.getsockname(fb), box(2));
  await a.sys.close(fa);
  t.is((await t.throwsAsync(a.sys.getsockname(fa), { instanceOf: Errno })).errno, EBADF);
  t.deepEqual(await b.sys.getsockname(fb), box(2), 'closing a\'s fd 3 left b\'s alone');
  t.is(s.mailboxes.live.size, 1);
  await b.close();
  await s.mailboxes.allClosed();
  t.is(s.mailboxes.live.size, 0, 'b\'s descriptors were closed when it disconnected');
  await a.close();
  await s.done();
});

test('a blocking recvfrom waits while other calls proceed, and datagrams pass intact', async (t) => {
  const s = await serve();
  const c = await rumpClient(s.url);
  const rx = await c.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  const tx = await c.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  await c.sys.bind(rx, box(7));
  await c.sys.bind(tx, box(8));
  const waiting = c.sys.recvfrom(rx, 2048);
  // These are answered while recvfrom is still waiting.
  t.is(await c.sys.sysctl('hw.ncpu'), 2);
  t.is(c.pending, 1);
  const payload = new Uint8Array(1472).map((_, i) => i & 0xff);
  t.is(await c.sys.sendto(tx, payload, 0, box(7)), 1472);
  const got = await waiting;
  t.deepEqual(got, { data: payload, from: box(8), flags: 0 });
  // O_NONBLOCK: EAGAIN instead of waiting.
  await c.sys.fcntl(rx, F_SETFL, O_NONBLOCK);
  t.is((await t.throwsAsync(c.sys.recvfrom(rx, 10), { instanceOf: Errno })).errno, EAGAIN);
  // A large write and read survive the trip.
  const big = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
  await c.sys.sendto(tx, big, 0, box(7));
  t.deepEqual(await c.sys.read(rx, big.length), big);
  // ioctl arguments and results are structured values.
  t.deepEqual(await c.sys.ioctl(rx, 'ECHO', { name: 'shmif0', mtu: 1500, up: true, linkstr: null }), {
    name: 'shmif0', mtu: 1500, up: true, linkstr: null,
  });
  await c.close();
  await s.done();
});

test('what a call throws that is not an errno, or returns that cannot travel, still reaches the client as an Errno', async (t) => {
  const s = await serve();
  const c = await rumpClient(s.url);
  const fd = await c.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  const thrown = await t.throwsAsync(c.sys.ioctl(fd, 'THROW'), { instanceOf: Errno });
  t.is(thrown.errno, EINVAL);
  t.is(thrown.message, 'ioctl: boom');
  const odd = await t.throwsAsync(c.sys.ioctl(fd, 'MAP'), { instanceOf: Errno });
  t.is(odd.errno, EIO);
  t.regex(odd.message, /cannot send result: .*Map/);
  t.is(await c.sys.sysctl('hw.ncpu'), 2, 'and the connection goes on');
  await c.close();
  await s.done();
});

test('a write larger than a frame goes out short, and a read asks for at most a frame', async (t) => {
  const s = await serve();
  const c = await rumpClient(s.url);
  const rx = await c.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  const tx = await c.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  await c.sys.bind(rx, box(5));
  const huge = new Uint8Array(MAX_IO + 100_000);
  huge[MAX_IO - 1] = 0xab;
  t.is(await c.sys.sendto(tx, huge, 0, box(5)), MAX_IO);
  const back = await c.sys.read(rx, 2 * MAX_IO);
  t.is(back.length, MAX_IO);
  t.is(back[MAX_IO - 1], 0xab);
  await c.close();
  await s.done();
});

test('poll fills in revents in the caller\'s array, as poll(2) does', async (t) => {
  const s = await serve();
  const c = await rumpClient(s.url);
  const rx = await c.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  const tx = await c.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  await c.sys.bind(rx, box(9));
  const fds: PollFd[] = [{ fd: rx, events: POLLIN }];
  const polled = c.sys.poll(fds, -1);
  await c.sys.sendto(tx, Uint8Array.of(1), 0, box(9));
  const out = await polled;
  t.is(out, fds);
  t.is(fds[0]!.revents, POLLIN);
  await c.close();
  await s.done();
});

test('replies come back out of order, matched by request id', async (t) => {
  const sim = createSimHost();
  const s = await serve(sim);
  const c = await rumpClient(s.url);
  const order: string[] = [];
  const slow = c.sys.poll([], 2000).then(() => order.push('poll 2000'));
  const fast = c.sys.poll([], 1000).then(() => order.push('poll 1000'));
  // Answered at once, while both polls wait on the simulated clock.
  t.is(await c.sys.sysctl('hw.ncpu'), 2);
  order.push('sysctl');
  t.is(c.pending, 2);
  await sim.run(1000);
  await fast;
  t.is(c.pending, 1);
  await sim.run(1000);
  await slow;
  t.deepEqual(order, ['sysctl', 'poll 1000', 'poll 2000']);
  await c.close();
  await s.done();
});

test('many calls in flight at once all get their own answers', async (t) => {
  const s = await serve();
  const c = await rumpClient(s.url);
  const names = ['hw.ncpu', 'kern.ostype', 'kern.hostname', 'kern.osrelease'];
  const calls = Array.from({ length: 400 }, (_, i) => c.sys.sysctl(names[i % 4]!));
  const got = await Promise.all(calls);
  const want = [2, 'NetBSD', s.kernel.hostname, await c.sys.sysctl('kern.osrelease')];
  got.forEach((v, i) => t.is(v, want[i % 4]));
  await c.close();
  await s.done();
});

/** Send `bytes` from a raw connection and check the server hangs up on it alone. */
async function closesOnlyThatClient(t: import('ava').ExecutionContext, frames: Uint8Array[], expectError?: number) {
  const s = await serve();
  const good = await rumpClient(s.url);
  const rx = await good.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  await good.sys.bind(rx, box(1));
  const blocked = good.sys.recvfrom(rx, 100); // a call in flight on the good client
  const raw = await RawPeer.connect(s.path);
  for (const f of frames) raw.write(f);
  await raw.closed;
  if (expectError !== undefined) {
    const err = raw.frames.find((f) => f.type === FRAME_ERROR);
    t.truthy(err, 'the server said why before hanging up');
    t.is((decode(err!.payload) as { errno: number }).errno, expectError);
  }
  // The server and the other client carry on.
  t.is(await good.sys.sysctl('hw.ncpu'), 2);
  const tx = await good.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  await good.sys.sendto(tx, Uint8Array.of(42), 0, box(1));
  t.deepEqual((await blocked).data, Uint8Array.of(42));
  const again = await rumpClient(s.url);
  t.is(await again.sys.sysctl('hw.ncpu'), 2);
  await again.close();
  await good.close();
  await s.done();
}

function frameWithLength(len: number, rest: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = Buffer.alloc(4 + rest.length);
  b.writeUInt32LE(len, 0);
  b.set(rest, 4);
  return b;
}

test('garbage instead of HELLO closes only that client', (t) =>
  closesOnlyThatClient(t, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]));

test('an oversized frame length closes only that client', (t) =>
  closesOnlyThatClient(t, [encodeClientHello(), frameWithLength(MAX_FRAME_LENGTH + 1)]));

test('a frame length shorter than the header closes only that client', (t) =>
  closesOnlyThatClient(t, [encodeClientHello(), frameWithLength(2, Uint8Array.of(2, 0))]));

test('a bad protocol version gets EPROTONOSUPPORT and closes only that client', (t) =>
  closesOnlyThatClient(t, [encodeClientHello(PROTOCOL_VERSION + 1)], EPROTONOSUPPORT));

test('a HELLO without the magic closes only that client', (t) => {
  const hello = encodeClientHello();
  hello[9] = 0x58;
  return closesOnlyThatClient(t, [hello]);
});

test('a CALL before HELLO closes only that client', (t) =>
  closesOnlyThatClient(t, [encodeFrame(FRAME_CALL, 1, ['sysctl', ['hw.ncpu']])]));

test('an undecodable CALL payload closes only that client', (t) => {
  const call = Buffer.alloc(9 + 3, 0xee);
  call.writeUInt32LE(5 + 3, 0);
  call[4] = FRAME_CALL;
  call.writeUInt32LE(1, 5);
  return closesOnlyThatClient(t, [encodeClientHello(), call]);
});

test('a CALL payload that is not [method, args] closes only that client', (t) =>
  closesOnlyThatClient(t, [encodeClientHello(), encodeFrame(FRAME_CALL, 1, { method: 'sysctl' })]));

test('a frame of unknown type closes only that client', (t) =>
  closesOnlyThatClient(t, [encodeClientHello(), encodeFrame(0x77, 1, null)]));

test('a second HELLO closes only that client', (t) => closesOnlyThatClient(t, [encodeClientHello(), encodeClientHello()]));

test('a client that hangs up mid-frame costs the server nothing', async (t) => {
  const s = await serve();
  const raw = await RawPeer.connect(s.path);
  raw.write(encodeClientHello());
  raw.write(encodeFrame(FRAME_CALL, 1, ['sysctl', ['hw.ncpu']]).subarray(0, 11));
  raw.socket.end();
  await raw.closed;
  const c = await rumpClient(s.url);
  t.is(await c.sys.sysctl('hw.ncpu'), 2);
  await c.close();
  await s.done();
});

test('a flood of calls that never finish is bounded: past the limit calls are answered ENOBUFS at once, and the client and others go on', async (t) => {
  const tmp = tempDir();
  const { kernel } = mailboxKernel();
  const server = await startRumpServer(kernel, `unix://${join(tmp.dir, 'sock')}`, { maxCallsInFlight: 100 });
  const c = await rumpClient(server.url);
  const rx = await c.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  await c.sys.bind(rx, box(1));
  // 100 blocking receives wait in the kernel; the 101st and later are refused.
  const waiting = Array.from({ length: 100 }, () => c.sys.recvfrom(rx, 10));
  const refused = await Promise.allSettled(Array.from({ length: 50 }, () => c.sys.recvfrom(rx, 10)));
  for (const r of refused) t.true(r.status === 'rejected' && (r.reason as Errno).errno === ENOBUFS, String((r as PromiseRejectedResult).reason));
  // Another client is served meanwhile.
  const other = await rumpClient(server.url);
  t.is(await other.sys.sysctl('hw.ncpu'), 2);
  const tx = await other.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  for (let i = 0; i < 100; i++) await other.sys.sendto(tx, Uint8Array.of(i), 0, box(1));
  t.is((await Promise.all(waiting)).length, 100);
  // Answered, they make room again.
  t.is(await c.sys.sysctl('hw.ncpu'), 2);
  await other.close();
  await c.close();
  await server.close();
  await kernel.halt();
  tmp.remove();
});

test('a peer flooding calls without reading the answers stops being read from: the server queues little and serves others', async (t) => {
  const s = await serve();
  const raw = await RawPeer.connect(s.path);
  raw.socket.pause(); // never reads the answers
  raw.write(encodeClientHello());
  const call = encodeFrame(FRAME_CALL, 1, ['sysctl', ['kern.hostname']]);
  // 64 MiB of calls, written as fast as our side takes them.
  const batch = Buffer.concat(Array.from({ length: 4096 }, () => call));
  let sent = 0;
  while (sent < 64 << 20 && !raw.socket.destroyed) {
    raw.socket.write(batch);
    sent += batch.length;
    // Once our writes pile up the server has stopped reading us: enough.
    if (raw.socket.writableLength > 8 << 20) break;
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 200));
  const conns = [...(s.server as unknown as { conns: Set<{ socket: net.Socket }> }).conns];
  t.is(conns.length, 1);
  t.true(conns[0]!.socket.isPaused(), 'the server stopped reading the flooding client');
  t.true(conns[0]!.socket.writableLength < 16 << 20, `answers queued: ${conns[0]!.socket.writableLength}`);
  const c = await rumpClient(s.url);
  t.is(await c.sys.sysctl('hw.ncpu'), 2);
  await c.close();
  raw.socket.destroy();
  await s.done();
});

test('fifty peers sending random bytes after HELLO are each dropped; the server serves a client throughout', async (t) => {
  const s = await serve();
  const good = await rumpClient(s.url);
  let x = 12345;
  const random = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      b[i] = x >>> 24;
    }
    return b;
  };
  const peers = await Promise.all(Array.from({ length: 50 }, () => RawPeer.connect(s.path)));
  for (const p of peers) {
    p.write(encodeClientHello());
    p.write(random(4096));
  }
  t.is(await good.sys.sysctl('hw.ncpu'), 2);
  // Garbage that happens to parse as a frame in progress keeps its connection only until the peer goes.
  for (const p of peers) p.socket.end();
  await Promise.all(peers.map((p) => p.closed));
  t.is(await good.sys.sysctl('kern.ostype'), 'NetBSD');
  t.is(s.server.clients, 1);
  await good.close();
  await s.done();
});

test('a half frame that announces 16 MiB holds at most 1 MiB until more arrives, not 16 MiB; the frame still arrives whole in pieces', (t) => {
  const got: Uint8Array[] = [];
  const reader = new FrameReader({ frame: (_type, _id, payload) => got.push(payload.slice()) });
  const payload = Buffer.alloc(MAX_FRAME_LENGTH - 5, 0x5a);
  const frame = Buffer.concat([frameWithLength(MAX_FRAME_LENGTH, Uint8Array.of(FRAME_CALL, 1, 0, 0, 0)), payload]);
  reader.push(frame.subarray(0, 20));
  const held = (reader as unknown as { partial: Uint8Array | null }).partial?.length ?? 0;
  t.true(held <= 1 << 20, `bytes allocated for a 10-byte start: ${held}`);
  t.is(reader.buffered, 16);
  for (let off = 20; off < frame.length; off += 1 << 20) reader.push(frame.subarray(off, off + (1 << 20)));
  t.is(got.length, 1);
  t.is(got[0]!.length, payload.length);
  t.true(Buffer.from(got[0]!).equals(payload));
});

test('CLOSE from the client ends its connection and closes its descriptors', async (t) => {
  const s = await serve();
  const raw = await RawPeer.connect(s.path);
  raw.write(encodeClientHello());
  t.is((await raw.next()).type, FRAME_HELLO);
  raw.write(encodeFrame(FRAME_CALL, 5, ['socket', [AF_LOCAL, SOCK_DGRAM, 0]]));
  const reply = await raw.next();
  t.is(reply.type, FRAME_RESULT);
  t.is(reply.id, 5);
  t.is(decode(reply.payload), 3);
  t.is(s.mailboxes.live.size, 1);
  raw.write(encodeEmptyFrame(FRAME_CLOSE, 0));
  t.is((await raw.next()).type, FRAME_CLOSE, 'the server says CLOSE back');
  await raw.closed;
  await s.mailboxes.allClosed();
  t.is(s.mailboxes.live.size, 0);
  await s.done();
});

test('a lost connection rejects every call in flight, and later ones, with ENOTCONN', async (t) => {
  const s = await serve();
  const c = await rumpClient(s.url);
  const rx = await c.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  const waiting = c.sys.recvfrom(rx, 10);
  await c.sys.sysctl('hw.ncpu'); // the recvfrom has reached the server
  await s.server.close();
  const err = await t.throwsAsync(waiting, { instanceOf: Errno });
  t.is(err.errno, ENOTCONN);
  t.is(err.code, 'ENOTCONN');
  t.is(err.syscall, 'recvfrom');
  const later = await t.throwsAsync(c.sys.sysctl('hw.ncpu'), { instanceOf: Errno });
  t.is(later.errno, ENOTCONN);
  await s.mailboxes.allClosed();
  await c.close();
  await s.done();
});

test('halt halts the kernel, removes the socket before answering, disconnects everyone, then calls onHalt', async (t) => {
  const tmp = tempDir();
  const path = join(tmp.dir, 'sock');
  const { kernel } = mailboxKernel();
  let onHalt!: () => void;
  const halted = new Promise<void>((resolve) => (onHalt = resolve));
  const server = await startRumpServer(kernel, `unix://${path}`, { onHalt });
  const bystander = await rumpClient(`unix://${path}`);
  const fd = await bystander.sys.socket(AF_LOCAL, SOCK_DGRAM, 0);
  const blocked = bystander.sys.recvfrom(fd, 10);
  await bystander.sys.sysctl('hw.ncpu');
  const c = await rumpClient(`unix://${path}`);
  await c.halt();
  t.true(kernel.halted);
  t.false(existsSync(path), 'the socket is gone when halt returns');
  await halted;
  t.is(server.clients, 0);
  // The bystander's blocked call ended (its descriptor was closed at halt, or its connection went).
  await t.throwsAsync(blocked, { instanceOf: Errno });
  t.is((await t.throwsAsync(bystander.sys.sysctl('hw.ncpu'), { instanceOf: Errno })).errno, ENOTCONN);
  await c.close();
  await bystander.close();
  tmp.remove();
});

test('halt with exit: false (rump.halt -h) halts the kernel but keeps serving; calls fail with ESHUTDOWN', async (t) => {
  const s = await serve();
  const c = await rumpClient(s.url);
  await c.halt({ exit: false });
  t.true(s.kernel.halted);
  t.true(existsSync(s.path));
  const err = await t.throwsAsync(c.sys.sysctl('hw.ncpu'), { instanceOf: Errno });
  t.is(err.errno, ESHUTDOWN);
  await c.close();
  await s.done();
});

test('a stale socket left by a dead server is removed; a live one is EADDRINUSE; a plain file is never touched', async (t) => {
  const tmp = tempDir();
  const path = join(tmp.dir, 'sock');
  // A server that dies without cleaning up (SIGKILL) leaves its socket file.
  const dead = spawn(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ], { stdio: 'ignore' });
  await new Promise((resolve) => dead.once('exit', resolve));
  t.true(statSync(path).isSocket(), 'the dead server left its socket');

  const { kernel } = mailboxKernel();
  const server = await startRumpServer(kernel, `unix://${path}`);
  const c = await rumpClient(`unix://${path}`);
  t.is(await c.sys.sysctl('hw.ncpu'), 2);

  const second = mailboxKernel().kernel;
  const err = await t.throwsAsync(startRumpServer(second, `unix://${path}`), { instanceOf: Errno });
  t.is(err.errno, EADDRINUSE);
  t.regex(err.message, /already listening/);
  t.is(await c.sys.sysctl('hw.ncpu'), 2, 'the live server was not disturbed');
  await c.close();
  await server.close();

  const file = join(tmp.dir, 'file');
  writeFileSync(file, 'precious');
  const e2 = await t.throwsAsync(startRumpServer(second, `unix://${file}`), { instanceOf: Errno });
  t.is(e2.errno, EADDRINUSE);
  t.is(readFileSync(file, 'utf8'), 'precious');
  await kernel.halt();
  await second.halt();
  tmp.remove();
});

test('tcp://127.0.0.1:0 listens on a free loopback port and reports it', async (t) => {
  const { kernel } = mailboxKernel();
  const server = await startRumpServer(kernel, 'tcp://127.0.0.1:0');
  const m = /^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(server.url);
  t.truthy(m);
  t.not(Number(m![1]), 0);
  const c = await rumpClient(server.url);
  t.is(await c.sys.sysctl('hw.ncpu'), 2);
  await c.close();
  await server.close();
  await kernel.halt();
});

test('a server refuses to listen beyond loopback', async (t) => {
  const { kernel } = mailboxKernel();
  for (const url of ['tcp://0.0.0.0:1234', 'tcp://192.0.2.1:1234', 'tcp://example.com:1234']) {
    await t.throwsAsync(startRumpServer(kernel, url), { message: /not an IPv4 loopback address/ });
  }
  await kernel.halt();
});

test('rumpClient: RUMP_SERVER unset, no such socket, and a peer that is not a rump server', async (t) => {
  const saved = process.env['RUMP_SERVER'];
  delete process.env['RUMP_SERVER'];
  await t.throwsAsync(rumpClient(), { message: 'RUMP_SERVER is not set' });
  if (saved !== undefined) process.env['RUMP_SERVER'] = saved;

  const tmp = tempDir();
  const missing = join(tmp.dir, 'none');
  const err = await t.throwsAsync(rumpClient(`unix://${missing}`), { instanceOf: Errno });
  t.is(err.errno, ENOENT);
  t.is(err.syscall, 'connect');
  t.is(err.message, `connect: unix://${missing}: No such file or directory`);

  // Something else listens there and answers nonsense.
  const path = join(tmp.dir, 'http');
  const other = net.createServer((s) => s.resume().end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  await new Promise<void>((resolve) => other.listen(path, resolve));
  await t.throwsAsync(rumpClient(`unix://${path}`), { message: /frame length|HELLO|closed/ });
  await new Promise((resolve) => other.close(resolve));
  tmp.remove();
});

test('rumpClient gives up on a server that accepts and never says HELLO: ETIMEDOUT naming it', async (t) => {
  const tmp = tempDir();
  const path = join(tmp.dir, 'mute');
  const held: net.Socket[] = [];
  const mute = net.createServer((s) => void held.push(s.resume()));
  await new Promise<void>((resolve) => mute.listen(path, resolve));
  const t0 = process.hrtime.bigint();
  const err = await t.throwsAsync(rumpClient(`unix://${path}`, { timeout: 300 }), { instanceOf: Errno });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  t.is(err.errno, ETIMEDOUT);
  t.is(err.syscall, 'connect');
  t.true(err.message.includes(`unix://${path}`), err.message);
  t.true(ms >= 250 && ms < 5000, `gave up after ${ms} ms`);
  for (const s of held) s.destroy();
  await new Promise((resolve) => mute.close(resolve));
  await t.throwsAsync(rumpClient(`unix://${path}`, { timeout: 0 }), { instanceOf: RangeError });
  tmp.remove();
});

test('a kernel with IPv4: UDP over lo0 and the routing calls (ext) work through the server', async (t) => {
  const { rumpInit } = await import('../../index.js');
  const tmp = tempDir();
  const kernel = await rumpInit({ components: ['net', 'net_net', 'net_netinet'], env: {} });
  const server = await startRumpServer(kernel, `unix://${join(tmp.dir, 'sock')}`);
  const c = await rumpClient(server.url);
  const rx = await c.sys.socket(AF_INET, SOCK_DGRAM, 0);
  const tx = await c.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await c.sys.bind(rx, { family: AF_INET, addr: '127.0.0.1', port: 7 });
  const waiting = c.sys.recvfrom(rx, 2048);
  const data = new Uint8Array(1000).map((_, i) => i & 0xff);
  t.is(await c.sys.sendto(tx, data, 0, { family: AF_INET, addr: '127.0.0.1', port: 7 }), 1000);
  const got = await waiting;
  t.deepEqual(got.data, data);
  t.is(got.from?.addr, '127.0.0.1');
  t.deepEqual(await c.sys.getsockname(tx), { family: AF_INET, addr: '0.0.0.0', port: got.from!.port });
  // Calls a component added to the kernel (the routing socket's) are there too.
  const routes = await c.sys.ext('rtdump');
  t.true(routes.some((r) => r.dst === '127.0.0.1' && r.ifname === 'lo0'), JSON.stringify(routes));
  await c.close();
  await server.close();
  await kernel.halt();
  tmp.remove();
});
