/*
 * lo0 and TCP segmentation offload: TCP hands lo0 segments of up to 64 KB,
 * which come back up whole (nothing leaves the host, nothing is cut), over
 * IPv4 and IPv6 alike; `ifconfig lo0 -tso4 -tso6` (SIOCSIFCAP) brings back
 * NetBSD's segments of at most the MTU. Either way the bytes arrive intact.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, AF_INET6, SHUT_WR, SOCK_STREAM, type Sockaddr } from '../../kern/sys.js';
import { IFCAP_TSOv4, IFCAP_TSOv6 } from '../../net/interface.js';
import { LOMTU } from '../../net/if/loop.js';
import { TAP_OUT } from '../../net/interface.js';
import { SOL_SOCKET, SO_RCVBUF, SO_SNDBUF } from '../../net/socket.js';
import { haltAll, ifnet, pattern, type Kernels } from '../helpers/kernels.js';
import { bootKernels6, dadDone } from '../inet6/helpers.js';

const TOTAL = 1 << 20;


const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function until<T>(ks: Kernels, p: Promise<T>): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await ks.sim.runUntil(() => done, 10 * 60_000);
  return p;
}

/** TOTAL bytes from a client to a server over `addr` within kernel `k`; the bytes read and the largest packet lo0 sent. */
async function transfer(ks: Kernels, k: Kernel, family: number, addr: string, port: number): Promise<{ got: Uint8Array; largest: number }> {
  const lo0 = ifnet(k, 'lo0');
  let largest = 0;
  const tap = (_ifp: unknown, dir: number, _buf: Uint8Array, _off: number, len: number): void => {
    if (dir === TAP_OUT && len > largest) largest = len;
  };
  lo0.taps.push(tap);
  const at: Sockaddr = { family, addr, port };
  const lfd = await k.sys.socket(family, SOCK_STREAM, 0);
  // Buffers that hold a whole 64 KB segment from the start (autosizing would get there later).
  await k.sys.setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, 256 * 1024);
  await k.sys.bind(lfd, at);
  await k.sys.listen(lfd, 1);
  const cfd = await k.sys.socket(family, SOCK_STREAM, 0);
  await k.sys.setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, 256 * 1024);
  await until(ks, k.sys.connect(cfd, at));
  const { fd: sfd } = await until(ks, k.sys.accept(lfd));
  const data = pattern(TOTAL, 0x2545f491);
  const writing = (async () => {
    for (let o = 0; o < TOTAL; o += 65536) await k.sys.write(cfd, data.subarray(o, o + 65536));
    await k.sys.shutdown(cfd, SHUT_WR);
  })();
  const got = new Uint8Array(TOTAL);
  let n = 0;
  for (;;) {
    const b = await until(ks, k.sys.read(sfd, 65536));
    if (b.length === 0) break;
    got.set(b, n);
    n += b.length;
  }
  await until(ks, writing);
  for (const fd of [cfd, sfd, lfd]) await k.sys.close(fd);
  lo0.taps.splice(lo0.taps.indexOf(tap), 1);
  return { got: got.subarray(0, n), largest };
}

for (const [name, family, addr, cap] of [
  ['IPv4', AF_INET, '127.0.0.1', IFCAP_TSOv4],
  ['IPv6', AF_INET6, '::1', IFCAP_TSOv6],
] as const) {
  test(`${name} over lo0: segments up to 64 KB come back up whole; with TSO off, none larger than the MTU`, async (t) => {
    const ks = bootKernels6(1);
    await dadDone(ks);
    const k = ks.kernels[0]!;
    const lo0 = ifnet(k, 'lo0');
    t.is(lo0.mtu, LOMTU, "NetBSD's MTU is kept");
    t.is(lo0.capenable & cap, cap, 'TSO on by default');

    const on = await transfer(ks, k, family, addr, 9000);
    t.is(sha(on.got), sha(pattern(TOTAL, 0x2545f491)), 'every byte, in order');
    t.true(on.largest > LOMTU, `a packet larger than the MTU went through lo0 (largest ${on.largest})`);
    t.true(on.largest <= 65535 + (family === AF_INET6 ? 40 : 0), 'and none past what IP can say');

    await k.sys.ioctl(await k.sys.socket(AF_INET, SOCK_STREAM, 0), 'SIOCSIFCAP', { name: 'lo0', capenable: lo0.capenable & ~cap });
    t.is(lo0.capenable & cap, 0);
    const off = await transfer(ks, k, family, addr, 9001);
    t.is(sha(off.got), sha(pattern(TOTAL, 0x2545f491)));
    t.true(off.largest <= LOMTU, `with TSO off no packet exceeds the MTU (largest ${off.largest})`);
    await ks.sim.run(5 * 60_000);
    t.deepEqual(await haltAll(ks), { mbufsInUse: [0], callouts: [0] });
  });
}

test('SIOCSIFCAP on lo0 takes only the bits lo0 has', async (t) => {
  const ks = bootKernels6(1);
  const k = ks.kernels[0]!;
  const fd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
  const e = await k.sys.ioctl(fd, 'SIOCSIFCAP', { name: 'lo0', capenable: 0x1 }).then(() => null, (x: { code?: string }) => x.code);
  t.is(e, 'EINVAL');
  t.is(ifnet(k, 'lo0').capenable, IFCAP_TSOv4 | IFCAP_TSOv6);
  await k.sys.close(fd);
  await haltAll(ks);
});
