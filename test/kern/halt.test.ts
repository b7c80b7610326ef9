/*
 * kernel.halt(): afterwards every call rejects with an error that says the
 * kernel halted (ENOTCONN, what a rumpclient process gets once its kernel
 * is gone), calls asleep at the halt reject the same way, and the Node
 * faces end as when the program closes them itself (it halted the kernel):
 * connections, servers and dgram sockets get 'close' and no 'error', and
 * what the program tries afterwards fails with "kernel halted". Nothing
 * keeps running: the process, the other kernels and the host's own timers
 * go on.
 */
import test from 'ava';
import {
  rumpInit, createSimHost, AF_INET, SOCK_DGRAM, SOCK_STREAM, POLLIN, KernelHaltedError, ENOTCONN, type RumpKernel,
} from '../../index.js';
import { drive, once } from '../node/helpers.js';

/** A macrotask of the host: it never comes if the kernel spins the microtask queue. */
function hostTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function isHalted(t: { true(v: boolean, m?: string): void; is(a: unknown, b: unknown, m?: string): void }, e: unknown, syscall: string): void {
  t.true(e instanceof KernelHaltedError, `${syscall}: a KernelHaltedError`);
  const err = e as { code?: string; errno?: number; syscall?: string; message?: string };
  t.is(err.code, 'ENOTCONN');
  t.is(err.errno, ENOTCONN);
  t.is(err.syscall, syscall);
  t.is(err.message, `${syscall}: kernel halted: Socket is not connected`);
}

test('after halt every sys call rejects with "kernel halted"; halt is idempotent', async (t) => {
  const k = await rumpInit({ host: createSimHost({ seed: 1 }) });
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await k.halt();
  await k.halt();
  isHalted(t, await k.sys.socket(AF_INET, SOCK_STREAM, 0).catch((e: unknown) => e), 'socket');
  isHalted(t, await k.sys.bind(fd, { family: AF_INET, addr: '0.0.0.0', port: 7 }).catch((e: unknown) => e), 'bind');
  isHalted(t, await k.sys.sendto(fd, new Uint8Array(1), 0, { family: AF_INET, addr: '127.0.0.1', port: 7 }).catch((e: unknown) => e), 'sendto');
  isHalted(t, await k.sys.close(fd).catch((e: unknown) => e), 'close');
  isHalted(t, await k.sys.sysctl('hw.ncpu').catch((e: unknown) => e), 'sysctl');
  isHalted(t, await k.netconfig.ifcreate('shmif0').catch((e: unknown) => e), 'socket'); // netconfig opens a socket for its ioctl
  t.deepEqual(k.sys.openFds(), []);
});

test('calls asleep at the halt reject with "kernel halted" instead of hanging', async (t) => {
  const sim = createSimHost({ seed: 2 });
  const k = await rumpInit({ host: sim });
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await k.sys.bind(fd, { family: AF_INET, addr: '127.0.0.1', port: 9 });
  const s = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
  await k.sys.bind(s, { family: AF_INET, addr: '127.0.0.1', port: 80 });
  await k.sys.listen(s, 5);
  const recv = k.sys.recvfrom(fd, 100).catch((e: unknown) => e);
  const accept = k.sys.accept(s).catch((e: unknown) => e);
  const poll = k.sys.poll([{ fd, events: POLLIN }], -1).catch((e: unknown) => e);
  const pollNothing = k.sys.poll([], -1).catch((e: unknown) => e);
  await sim.run(10);
  await k.halt();
  const [r, a, p, pn] = await drive(sim, Promise.all([recv, accept, poll, pollNothing]), 1000);
  isHalted(t, r, 'recvfrom');
  isHalted(t, a, 'accept');
  isHalted(t, p, 'poll');
  isHalted(t, pn, 'poll');
  t.is(sim.pending(), 0, 'no timer of the halted kernel left armed');
  t.is(sim.holds(), 0, 'nothing asleep holds the host');
});

test('halting with a bound dgram socket closes it and freezes nothing', async (t) => {
  t.timeout(20_000);
  const k = await rumpInit();
  const other = await rumpInit();
  const u = k.dgram.createSocket('udp4');
  await new Promise<void>((r) => u.bind(5353, () => r()));
  const closed = once(u, 'close');
  let errors = 0;
  u.on('error', () => errors++);
  await k.halt();
  await closed;
  // The host's event loop turns: the halted socket does not spin.
  for (let i = 0; i < 10; i++) await hostTurn();
  t.is(errors, 0);
  t.throws(() => u.send('x', 7, '127.0.0.1'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  // Another kernel in the process goes on working.
  const v = other.dgram.createSocket('udp4');
  await new Promise<void>((r) => v.bind(7, () => r()));
  const got = once<Buffer>(v, 'message');
  v.send('still here', 7, '127.0.0.1');
  t.is(String(await got), 'still here');
  v.close();
  // A new socket on the halted kernel fails its bind with the halt's error.
  const w = k.dgram.createSocket('udp4');
  const err = await new Promise<Error & { code?: string; syscall?: string }>((resolve) => {
    w.on('error', resolve);
    w.bind(5354);
  });
  t.is(err.code, 'ENOTCONN');
  t.is(err.syscall, 'bind');
  t.regex(err.message, /kernel halted/);
  await other.halt();
});

async function tcpPair(k: RumpKernel, sim: ReturnType<typeof createSimHost>) {
  const srv = k.net.createServer();
  const accepted = once<import('../../index.js').NetSocket>(srv, 'connection');
  await drive(sim, new Promise<void>((r) => srv.listen(8080, '127.0.0.1', () => r())));
  const c = k.net.connect(8080, '127.0.0.1');
  await drive(sim, once(c, 'connect'));
  const s = await drive(sim, accepted);
  return { srv, c, s };
}

test('halting closes net connections and servers; a later connect fails with "kernel halted"', async (t) => {
  const sim = createSimHost({ seed: 3 });
  const k = await rumpInit({ host: sim });
  const { srv, c, s } = await tcpPair(k, sim);
  const events: string[] = [];
  for (const [name, e] of [['client', c], ['server-side', s]] as const) {
    e.on('error', (err: Error & { code?: string; syscall?: string }) => events.push(`${name} error ${err.code} ${err.syscall} ${err.message}`));
    e.on('close', (hadError: boolean) => events.push(`${name} close hadError=${hadError}`));
  }
  srv.on('close', () => events.push('server close'));
  const allClosed = Promise.all([once(c, 'close'), once(s, 'close'), once(srv, 'close')]);
  await k.halt();
  await drive(sim, allClosed, 1000);
  t.deepEqual(events.sort(), [
    'client close hadError=false',
    'server close',
    'server-side close hadError=false',
  ]);
  t.true(c.destroyed);
  t.false(c.write('late', (e) => events.push(`write callback ${(e as { code?: string } | null)?.code}`)));
  t.false(srv.listening);
  // A connection tried afterwards fails at once with the halt's error.
  const late = k.net.connect(8080, '127.0.0.1');
  const err = await drive(sim, once<Error & { code?: string; syscall?: string }>(late, 'error'), 1000);
  t.is(err.code, 'ENOTCONN');
  t.is(err.syscall, 'connect');
  t.regex(err.message, /^connect ENOTCONN: kernel halted/);
});

test('a connection still being made when the kernel halts fails with "kernel halted" and holds nothing', async (t) => {
  const sim = createSimHost({ seed: 5 });
  const k = await rumpInit({ host: sim });
  await k.netconfig.ifcreate('shmif0');
  await k.netconfig.ifsetlinkstr('shmif0', 'bus-nobody');
  await k.netconfig.ipv4IfaddrCidr('shmif0', '192.0.2.1', 24);
  const c = k.net.connect(80, '192.0.2.9'); // nobody answers ARP: the connect waits
  const events: string[] = [];
  c.on('error', (e: Error & { code?: string; syscall?: string }) => events.push(`error ${e.code} ${e.syscall} ${e.message}`));
  c.on('close', (hadError: boolean) => events.push(`close hadError=${hadError}`));
  await sim.run(100);
  t.deepEqual(events, []);
  await k.halt();
  await drive(sim, once(c, 'close'), 1000);
  t.deepEqual(events, ['error ENOTCONN connect connect ENOTCONN: kernel halted 192.0.2.9:80', 'close hadError=true']);
  t.is(sim.holds(), 0);
  t.is(sim.pending(), 0);
});

test('an http.Server listening on a kernel closes when the kernel halts', async (t) => {
  const sim = createSimHost({ seed: 6 });
  const k = await rumpInit({ host: sim });
  const { createServer } = await import('node:http');
  const web = k.net.listen(createServer((_req, res) => res.end('hi')), 80);
  await drive(sim, once(web, 'listening'), 1000);
  t.true(web.listening);
  const closed = once(web, 'close');
  await k.halt();
  await drive(sim, closed, 1000);
  t.false(web.listening);
  await sim.run(10); // the handle's close callback runs on a later turn (a softint)
  t.is(sim.holds(), 0);
});
