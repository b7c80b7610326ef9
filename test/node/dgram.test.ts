/*
 * kernel.dgram: Node's dgram on a rump kernel.
 *
 * 1. The same scenarios run on node:dgram over the host's loopback and on
 *    kernel.dgram over a kernel's lo0 give the same events in the same
 *    order, and the same errors (code, syscall, address).
 * 2. Two kernels on a simulated bus, the clock driven by the test:
 *
 *        A 192.0.2.1 ── shmif0 ══ bus1 ══ shmif0 ── B 192.0.2.2
 *
 * 3. The same face from another process's point of view: through
 *    rump_server and the client library.
 */
import test from 'ava';
import hostDgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rumpInit, rumpClient, startRumpServer, createSimHost, type RumpKernel, type SimHost } from '../../index.js';
import { Trace, deferred, drive, once, throws } from './helpers.js';

/** What the scenarios use of a dgram module: node:dgram and kernel.dgram both fit. */
interface DgramLike {
  createSocket(type: 'udp4'): DSocket;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...a: any[]) => void;
interface DSocket {
  on(event: string, fn: Listener): this;
  once(event: string, fn: Listener): this;
  bind(port?: number, address?: string, cb?: () => void): unknown;
  connect(port: number, address?: string, cb?: () => void): void;
  disconnect(): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  send(msg: any, ...rest: any[]): void;
  close(cb?: () => void): unknown;
  address(): { address: string; family: string; port: number };
  remoteAddress(): { address: string; family: string; port: number };
  setBroadcast(on: boolean): void;
  setTTL(ttl: number): number;
}

const NET = ['net', 'net_net', 'net_netinet'];

function record(trace: Trace, name: string, s: DSocket): void {
  s.on('listening', () => trace.add(`${name} listening`));
  s.on('connect', () => trace.add(`${name} connect`));
  s.on('close', () => trace.add(`${name} close`));
  s.on('error', ((e: Error) => trace.error(name, e)));
  s.on('message', ((msg: Buffer, rinfo: { address: string; family: string; port: number; size: number }) =>
    trace.add(`${name} message "${msg}" from ${rinfo.address}:${trace.port(rinfo.port)} ${rinfo.family} size=${rinfo.size}`)));
}

function bound(s: DSocket, port = 0, address?: string): Promise<void> {
  return new Promise((resolve) => s.bind(port, address, () => resolve()));
}

/** A datagram exchange: explicit and implicit bind, send callbacks, rinfo, close. */
async function echo(dg: DgramLike, host: string, emptyDatagram = true): Promise<string[]> {
  const t = new Trace();
  const a = dg.createSocket('udp4');
  const b = dg.createSocket('udp4');
  b.on('listening', () => t.label(b.address().port, 'B'));
  record(t, 'a', a);
  record(t, 'b', b);
  await bound(a, 0, host);
  const pa = a.address();
  t.label(pa.port, 'A');
  t.add(`a address ${pa.address} ${pa.family}`);
  // a answers the first datagram only, so each step below waits for exactly what it caused.
  a.once('message', ((msg: Buffer, rinfo: { address: string; port: number }) => {
    a.send(`${msg}-pong`, rinfo.port, rinfo.address, (err: Error | null, n: number) => t.add(`a sent ${err} ${n}`));
  }));
  const gotPong = once(b, 'message');
  // Unbound: the send binds b to an ephemeral port first, then goes.
  b.send('ping', pa.port, host, (err: Error | null, n: number) => {
    t.add(`b sent ${err} ${n}`);
    const ba = b.address();
    t.add(`b address ${ba.address} ${ba.family} ${ba.port > 0 ? 'bound' : 'unbound'}`);
  });
  await gotPong;
  // Several buffers make one datagram; offset/length pick part of one.
  const gotParts = once(a, 'message');
  b.send([Buffer.from('two '), 'parts'], pa.port, host);
  await gotParts;
  const gotSlice = once(a, 'message');
  b.send(Buffer.from('xxsliceyy'), 2, 5, pa.port, host);
  await gotSlice;
  if (emptyDatagram) {
    const gotEmpty = once(a, 'message');
    b.send(Buffer.alloc(0), pa.port, host);
    await gotEmpty;
  }
  const closed = Promise.all([once(a, 'close'), once(b, 'close')]);
  a.close();
  b.close();
  await closed;
  return t.lines;
}

/** connect(), remoteAddress(), sends on a connected socket, ICMP port unreachable as an 'error'. */
async function connected(dg: DgramLike, host: string): Promise<string[]> {
  const t = new Trace();
  // A port nobody listens on.
  const z = dg.createSocket('udp4');
  await bound(z, 0, host);
  const dead = z.address().port;
  await new Promise<void>((r) => z.close(r));
  t.label(dead, 'DEAD');

  const srv = dg.createSocket('udp4');
  await bound(srv, 0, host);
  const port = srv.address().port;
  t.label(port, 'SRV');
  const c = dg.createSocket('udp4');
  record(t, 'c', c);
  srv.on('message', ((msg: Buffer) => t.add(`srv message "${msg}"`)));
  await new Promise<void>((r) => c.connect(port, host, r));
  const ra = c.remoteAddress();
  t.add(`c remote ${ra.address}:${t.port(ra.port)} ${ra.family}`);
  throws(t, 'c send with address', () => c.send(Buffer.from('x'), 0, 1, port, host));
  throws(t, 'c connect again', () => c.connect(port, host));
  const got = once(srv, 'message');
  c.send('to-srv', (err: Error | null, n: number) => t.add(`c sent ${err} ${n}`));
  await got;
  // (msg, port, host) on a connected socket reads as (msg, callback): Node sends to the peer.
  const got2 = once(srv, 'message');
  c.send('to-srv-again', port, host);
  await got2;
  c.disconnect();
  throws(t, 'c remoteAddress after disconnect', () => c.remoteAddress());
  // Connected to a dead port: the ICMP port unreachable comes back as an error on the next receive.
  const failed = once(c, 'error');
  await new Promise<void>((r) => c.connect(dead, host, r));
  c.send('to-nobody');
  await failed;
  const closed = Promise.all([once(c, 'close'), once(srv, 'close')]);
  c.close();
  srv.close();
  await closed;
  return t.lines;
}

/** Misuse and failures: unbound calls, double bind, EADDRINUSE, calls after close, bad ports. */
async function failures(dg: DgramLike, host: string): Promise<string[]> {
  const t = new Trace();
  const s = dg.createSocket('udp4');
  record(t, 's', s);
  throws(t, 'address before bind', () => s.address());
  throws(t, 'setBroadcast before bind', () => s.setBroadcast(true));
  throws(t, 'remoteAddress unconnected', () => s.remoteAddress());
  throws(t, 'send to port 0', () => s.send('x', 0, host));
  throws(t, 'send to port 70000', () => s.send('x', 70000, host));
  await bound(s, 0, host);
  const port = s.address().port;
  t.label(port, 'S');
  throws(t, 'bind twice', () => s.bind(0));
  throws(t, 'setBroadcast bound', () => s.setBroadcast(true));
  t.add(`setTTL ${s.setTTL(9)}`);
  const other = dg.createSocket('udp4');
  record(t, 'other', other);
  const inUse = once(other, 'error');
  other.bind(port, host);
  await inUse;
  // An unbound socket's failed send, with a callback: the callback hears it.
  const closed = Promise.all([once(s, 'close'), once(other, 'close')]);
  s.close();
  other.close();
  await closed;
  throws(t, 'send after close', () => s.send('x', port, host));
  throws(t, 'close after close', () => s.close());
  throws(t, 'address after close', () => s.address());
  return t.lines;
}

const scenarios = { echo, connected, failures };

async function onHost(fn: (dg: DgramLike, host: string) => Promise<string[]>): Promise<string[]> {
  return fn(hostDgram as unknown as DgramLike, '127.0.0.1');
}

async function onKernel(fn: (dg: DgramLike, host: string) => Promise<string[]>): Promise<string[]> {
  const k = await rumpInit({ components: NET });
  try {
    return await fn(k.dgram as unknown as DgramLike, '127.0.0.1');
  } finally {
    await k.halt();
  }
}

for (const [name, fn] of Object.entries(scenarios)) {
  test(`dgram ${name}: node:dgram on the host loopback and kernel.dgram on lo0 give the same events`, async (t) => {
    const host = await onHost(fn);
    const kernel = await onKernel(fn);
    t.log(host.join('\n'));
    t.deepEqual(kernel, host);
  });
}

test('dgram scenarios read as Node documents them', async (t) => {
  const lines = await onKernel(echo);
  t.deepEqual(lines, [
    'a listening',
    'a address 127.0.0.1 IPv4',
    'b listening',
    'b sent null 4',
    'b address 0.0.0.0 IPv4 bound',
    'a message "ping" from 127.0.0.1:B IPv4 size=4',
    'a sent null 9',
    'b message "ping-pong" from 127.0.0.1:A IPv4 size=9',
    'a message "two parts" from 127.0.0.1:B IPv4 size=9',
    'a message "slice" from 127.0.0.1:B IPv4 size=5',
    'a message "" from 127.0.0.1:B IPv4 size=0',
    'a close',
    'b close',
  ]);
  const conn = await onKernel(connected);
  t.true(conn.includes('c error ECONNREFUSED syscall=recvmsg'), conn.join('\n'));
  const fail = await onKernel(failures);
  t.true(fail.includes('other error EADDRINUSE syscall=bind address=127.0.0.1 port=S'), fail.join('\n'));
});

async function simKernel(sim: SimHost, addr: string): Promise<RumpKernel> {
  const k = await rumpInit({ components: [...NET, 'net_shmif'], host: sim });
  const ifname = await k.netconfig.ifcreate('shmif');
  await k.netconfig.ifsetlinkstr(ifname, 'bus1');
  await k.netconfig.ipv4IfaddrCidr(ifname, addr, 24);
  return k;
}

test('two kernels on a sim bus: echo, broadcast only with setBroadcast, and nothing left behind', async (t) => {
  const sim = createSimHost({ seed: 5 });
  const a = await simKernel(sim, '192.0.2.1');
  const b = await simKernel(sim, '192.0.2.2');
  const trace = new Trace();
  const run = async (): Promise<void> => {
    const srv = b.dgram.createSocket('udp4');
    record(trace, 'b', srv);
    await bound(srv, 7);
    trace.label(7, 'ECHO');
    srv.on('message', ((msg: Buffer, rinfo: { address: string; port: number }) => srv.send(msg, rinfo.port, rinfo.address)));
    const cli = a.dgram.createSocket('udp4');
    record(trace, 'a', cli);
    const echoed = once(cli, 'message');
    cli.send('hello over the bus', 7, '192.0.2.2');
    await echoed;
    // Broadcast needs SO_BROADCAST: without it the kernel refuses (EACCES), as Linux does.
    const refused = deferred<Error | null>();
    cli.send('to all', 7, '192.0.2.255', (err: Error | null) => refused.resolve(err));
    trace.error('broadcast without setBroadcast', await refused.promise);
    cli.setBroadcast(true);
    const heard = once(srv, 'message');
    const back = once(cli, 'message');
    cli.send('to all', 7, '192.0.2.255');
    await heard;
    await back;
    const closed = Promise.all([once(cli, 'close'), once(srv, 'close')]);
    cli.close();
    srv.close();
    await closed;
  };
  await drive(sim, run());
  t.deepEqual(trace.lines, [
    'b listening',
    'a listening',
    'b message "hello over the bus" from 192.0.2.1:ephemeral IPv4 size=18',
    'a message "hello over the bus" from 192.0.2.2:ECHO IPv4 size=18',
    'broadcast without setBroadcast error EACCES syscall=send address=192.0.2.255 port=ECHO',
    'b message "to all" from 192.0.2.1:ephemeral IPv4 size=6',
    'a message "to all" from 192.0.2.2:ECHO IPv4 size=6',
    'a close',
    'b close',
  ]);
  await sim.settle();
  t.is(sim.holds(), 0, 'closed sockets no longer keep the process alive');
  t.deepEqual(a.sys.openFds(), []);
  t.deepEqual(b.sys.openFds(), []);
  await a.halt();
  await b.halt();
});

test('a bound socket holds the process until it is closed or unref()ed', async (t) => {
  const sim = createSimHost({ seed: 6 });
  const k = await simKernel(sim, '192.0.2.1');
  const seen: number[] = [sim.holds()];
  const s = k.dgram.createSocket('udp4');
  await drive(sim, bound(s, 0));
  seen.push(sim.holds());
  s.unref();
  seen.push(sim.holds());
  s.ref();
  seen.push(sim.holds());
  await drive(sim, new Promise<void>((r) => s.close(r)));
  // As a closing libuv handle, the descriptor holds the process until its close has completed.
  await sim.run(1);
  seen.push(sim.holds());
  t.deepEqual(seen, [0, 1, 0, 1, 0]);
  await k.halt();
});

test('kernel.dgram through rump_server: the client library gives the same face', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-dgram-'));
  const served = await rumpInit({ components: NET });
  const server = await startRumpServer(served, `unix://${join(dir, 'sock')}`);
  const remote = await rumpClient(`unix://${join(dir, 'sock')}`);
  try {
    // Without the empty datagram: Socket.poll (net/socket.ts) counts queued bytes, so a
    // zero-length datagram does not wake a remote poll(); in process the handle reads first.
    const viaServer = await echo(remote.dgram as unknown as DgramLike, '127.0.0.1', false);
    const onHostLoopback = await onHost((dg, h) => echo(dg, h, false));
    t.deepEqual(viaServer, onHostLoopback);
    const conn = await connected(remote.dgram as unknown as DgramLike, '127.0.0.1');
    t.deepEqual(conn, await onHost(connected));
    await remote.sys.sysctl('kern.ostype');
    t.is(remote.pending, 0, 'no call left waiting on the server once the sockets closed');
  } finally {
    await remote.close();
    await server.close();
    await served.halt();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('udp6 sockets and IPv6 peers fail as the kernel answers: it has no IPv6 (EAFNOSUPPORT)', async (t) => {
  const k = await rumpInit({ components: NET });
  const s = k.dgram.createSocket('udp6');
  const err = await new Promise<Error>((r) => {
    s.on('error', r);
    s.bind(0);
  });
  const e = err as Error & { code: string; syscall: string; address: string };
  t.deepEqual([e.code, e.syscall, e.address], ['EAFNOSUPPORT', 'bind', '::']);
  s.close();
  const c = k.net.connect(80, '::1');
  const cerr = await new Promise<Error & { code: string; syscall: string }>((r) => c.on('error', r));
  t.deepEqual([cerr.code, cerr.syscall], ['EAFNOSUPPORT', 'connect']);
  await once(c, 'close');
  await k.halt();
});
