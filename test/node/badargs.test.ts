/*
 * Bad input to the faces: each odd call is made against the host's real
 * node:net / node:dgram and against kernel.net / kernel.dgram, and both
 * must throw the same class with the same `code` (ERR_INVALID_ARG_TYPE,
 * ERR_SOCKET_BAD_PORT, ERR_OUT_OF_RANGE, ...), so code written against
 * Node's errors works unchanged. Oversized datagrams fail with EMSGSIZE on
 * both, through the send callback.
 */
import test from 'ava';
import hostNet from 'node:net';
import hostDgram from 'node:dgram';
import { rumpInit, createSimHost, type RumpKernel } from '../../index.js';

type NetLike = typeof hostNet | RumpKernel['net'];
type DgramLike = typeof hostDgram | RumpKernel['dgram'];
/* eslint-disable @typescript-eslint/no-explicit-any */
type Call = (net: any, dgram: any, made: Array<{ destroy?: () => void; close?: () => void }>) => unknown;

/** Keep what a call made so it can be closed whatever it threw. */
function keep<T extends object>(made: object[], o: T): T {
  made.push(o);
  return o;
}

const calls: ReadonlyArray<readonly [string, Call]> = [
  ['net.connect(-1)', (n) => n.connect(-1, '127.0.0.1')],
  ['net.connect(70000)', (n) => n.connect(70000, '127.0.0.1')],
  ['net.connect({ port: "abc" })', (n) => n.connect({ port: 'abc', host: '127.0.0.1' })],
  ['net.connect({ port: {} })', (n) => n.connect({ port: {}, host: '127.0.0.1' })],
  ['net.connect({ port: 1.5 })', (n) => n.connect({ port: 1.5, host: '127.0.0.1' })],
  ['net.connect()', (n) => n.connect()],
  ['net.connect({ host: 5 })', (n) => n.connect({ port: 80, host: 5 })],
  ['net.connect({ localAddress: "zz" })', (n) => n.connect({ port: 80, host: '127.0.0.1', localAddress: 'zz' })],
  ['net.connect({ localPort: "x" })', (n) => n.connect({ port: 80, host: '127.0.0.1', localPort: 'x' })],
  ['server.listen(-1)', (n, _d, m) => keep(m, n.createServer()).listen(-1)],
  ['server.listen(65536)', (n, _d, m) => keep(m, n.createServer()).listen(65536)],
  ['server.listen({ port: "x" })', (n, _d, m) => keep(m, n.createServer()).listen({ port: 'x' })],
  ['server.listen({})', (n, _d, m) => keep(m, n.createServer()).listen({})],
  ['server.listen(true)', (n, _d, m) => keep(m, n.createServer()).listen(true)],
  ['net.createServer(5)', (n) => n.createServer(5)],
  ['socket.write(5)', (n, _d, m) => keep(m, new n.Socket()).write(5)],
  ['socket.write(null)', (n, _d, m) => keep(m, new n.Socket()).write(null)],
  ['socket.write({})', (n, _d, m) => keep(m, new n.Socket()).write({})],
  ['socket.setTimeout(-1)', (n, _d, m) => keep(m, new n.Socket()).setTimeout(-1)],
  ['socket.setTimeout("x")', (n, _d, m) => keep(m, new n.Socket()).setTimeout('x')],
  ['socket.setTimeout(10, 5)', (n, _d, m) => keep(m, new n.Socket()).setTimeout(10, 5)],
  ['dgram.createSocket("udp5")', (_n, d) => d.createSocket('udp5')],
  ['dgram.createSocket({})', (_n, d) => d.createSocket({})],
  ['dgram.createSocket(5)', (_n, d) => d.createSocket(5)],
  ['dgram send to port 0', (_n, d, m) => keep(m, d.createSocket('udp4')).send('x', 0, '127.0.0.1')],
  ['dgram send to port -1', (_n, d, m) => keep(m, d.createSocket('udp4')).send('x', -1, '127.0.0.1')],
  ['dgram send to port 70000', (_n, d, m) => keep(m, d.createSocket('udp4')).send('x', 70000, '127.0.0.1')],
  ['dgram send(5)', (_n, d, m) => keep(m, d.createSocket('udp4')).send(5, 1234, '127.0.0.1')],
  ['dgram send({})', (_n, d, m) => keep(m, d.createSocket('udp4')).send({}, 1234, '127.0.0.1')],
  ['dgram send past the buffer', (_n, d, m) => keep(m, d.createSocket('udp4')).send(Buffer.alloc(4), 3, 5, 1234, '127.0.0.1')],
  ['dgram send offset -1', (_n, d, m) => keep(m, d.createSocket('udp4')).send(Buffer.alloc(4), -1, 2, 1234, '127.0.0.1')],
  ['dgram send to address 5', (_n, d, m) => keep(m, d.createSocket('udp4')).send('x', 1234, 5)],
  ['dgram setTTL(0)', (_n, d, m) => keep(m, d.createSocket('udp4')).setTTL(0)],
  ['dgram setTTL("x")', (_n, d, m) => keep(m, d.createSocket('udp4')).setTTL('x')],
  ['dgram setBroadcast before bind', (_n, d, m) => keep(m, d.createSocket('udp4')).setBroadcast(true)],
  ['dgram connect(0)', (_n, d, m) => keep(m, d.createSocket('udp4')).connect(0, '127.0.0.1')],
  ['dgram connect("x")', (_n, d, m) => keep(m, d.createSocket('udp4')).connect('x')],
];

/** What a call threw, as a user's catch sees it; 'returned' when it did not throw. */
function outcome(fn: Call, net: NetLike, dgram: DgramLike): string {
  const made: Array<{ destroy?: () => void; close?: () => void }> = [];
  let r = 'returned';
  try {
    const v = fn(net, dgram, made) as { on?: unknown } | undefined;
    if (v && typeof v === 'object' && typeof v.on === 'function') made.push(v as never);
  } catch (e) {
    const err = e as Error & { code?: string };
    r = `${err.constructor.name} ${err.code ?? '(no code)'}`;
  }
  for (const o of made) {
    (o as unknown as { on(ev: string, f: () => void): void }).on?.('error', () => {});
    try {
      if (o.destroy) o.destroy();
      else o.close?.();
    } catch {
      // already closed, or never opened
    }
  }
  return r;
}

let k: RumpKernel;
test.before(async () => {
  k = await rumpInit({ components: ['net', 'net_net', 'net_netinet'], host: createSimHost() });
});
test.after.always(async () => {
  await k.halt();
});

for (const [name, fn] of calls) {
  test(`${name}: the same error as node`, (t) => {
    const want = outcome(fn, hostNet, hostDgram);
    // Every call in the table is one Node refuses: the comparison is never vacuous.
    t.not(want, 'returned');
    t.is(outcome(fn, k.net, k.dgram), want);
  });
}

test('an oversized datagram fails with EMSGSIZE through the send callback, as on node', async (t) => {
  const codes: string[] = [];
  for (const d of [hostDgram, k.dgram] as DgramLike[]) {
    const s = (d as typeof hostDgram).createSocket('udp4');
    s.on('error', () => {});
    const err = await new Promise<Error & { code?: string; syscall?: string }>((resolve) => {
      s.send(Buffer.alloc(70_000), 1234, '127.0.0.1', (e) => resolve(e as Error));
      // The kernel's sends run on its simulated clock.
      if (d !== hostDgram) void (k.host as ReturnType<typeof createSimHost>).run(10);
    });
    codes.push(`${err?.code} ${err?.syscall}`);
    s.close();
  }
  t.is(codes[0], 'EMSGSIZE send');
  t.is(codes[1], codes[0]);
});
