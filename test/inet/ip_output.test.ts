/*
 * ipOutput's contract: the errno for each refusal, raw headers completed,
 * broadcast only when allowed, and memory exhaustion handled as BSD does.
 *
 *      a                        b
 *   hub0 192.0.2.1/24      hub0 192.0.2.2/24
 *      |                        |
 *   ===+==========lan===========+===
 */
import test from 'ava';
import { EACCES, EHOSTUNREACH, EINVAL, EMSGSIZE, ENETDOWN, ENETUNREACH, ENOBUFS } from '../../kern/errno.js';
import type { Kernel } from '../../kern/kernel.js';
import { IFF_UP } from '../../net/interface.js';
import { inet } from '../../net/inet/inet.js';
import { IP_ALLOWBROADCAST, IP_RAWOUTPUT, IP_ROUTETOIF, inSelectSrc, ipOutput } from '../../net/inet/ip_output.js';
import { netstack } from '../../net/netstack.js';
import { inCksum } from '../../net/wire/cksum.js';
import { ICMP_ECHO, ICMP_ECHOREPLY } from '../../net/wire/icmp.js';
import { Hub, attachEther } from '../helpers/hub.js';
import {
  bootKernels, decodeFrame, haltAll, icmpMessage, icmpstat, ifconfig, ifnet, ip, ipPacket, ipstat, route, sendEcho,
  type Kernels, type SeenFrame,
} from '../helpers/kernels.js';

interface Lan {
  ks: Kernels;
  a: Kernel;
  b: Kernel;
  seen: SeenFrame[];
}

async function lan(env: Record<string, string> = {}): Promise<Lan> {
  const ks = bootKernels(2, 1, env);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const hub = new Hub('lan');
  const seen: SeenFrame[] = [];
  hub.tap((f) => seen.push(decodeFrame(f)));
  attachEther(a, hub);
  attachEther(b, hub);
  ifconfig(a, 'hub0', '192.0.2.1/24');
  ifconfig(b, 'hub0', '192.0.2.2/24');
  await ks.sim.settle();
  seen.length = 0;
  return { ks, a, b, seen };
}

function echo(k: Kernel, n = 8): ReturnType<Kernel['mbufs']['get']> & object {
  const msg = icmpMessage(ICMP_ECHO, 0, 1, new Uint8Array(n));
  return k.mbufs.copyin(msg, 0, msg.length)!;
}

test('the errno of each refusal', async (t) => {
  const l = await lan();
  const I = inet(l.a);
  t.is(ipOutput(I, echo(l.a), 0, ip('203.0.113.1'), 1, 64, 0, 0), EHOSTUNREACH, 'no route: NetBSD\'s EHOSTUNREACH');
  t.is(ipstat(l.a).noroute, 1);
  t.is(ipOutput(I, echo(l.a), 0, ip('192.0.2.255'), 1, 64, 0, 0), EACCES);
  t.is(ipOutput(I, echo(l.a), 0, ip('255.255.255.255'), 1, 64, 0, 0), EHOSTUNREACH, 'the limited broadcast needs a route too');
  await route(l.a, { type: 'add', dst: 'default', gateway: '192.0.2.2' });
  t.is(ipOutput(I, echo(l.a), 0, ip('203.0.113.1'), 1, 64, 0, IP_ROUTETOIF), ENETUNREACH, 'SO_DONTROUTE ignores gateways');
  t.is(ipOutput(I, echo(l.a, 65535 - 28 + 1), 0, ip('192.0.2.2'), 1, 64, 0, 0), EMSGSIZE);
  const df = ipPacket({ src: '192.0.2.1', dst: '192.0.2.2', p: 1, off: 0x4000, payload: icmpMessage(ICMP_ECHO, 0, 1, new Uint8Array(1600)) });
  t.is(ipOutput(I, l.a.mbufs.copyin(df, 0, df.length)!, 0, 0, 0, 0, 0, IP_RAWOUTPUT), EMSGSIZE);
  t.is(ipstat(l.a).cantfrag, 1);
  const notIp = new Uint8Array(28).fill(0x60);
  t.is(ipOutput(I, l.a.mbufs.copyin(notIp, 0, notIp.length)!, 0, 0, 0, 0, 0, IP_RAWOUTPUT), EINVAL);
  const ifp = ifnet(l.a, 'hub0');
  netstack(l.a).ifs.setFlags(ifp, ifp.flags & ~IFF_UP);
  t.is(ipOutput(I, echo(l.a), 0, ip('192.0.2.2'), 1, 64, 0, 0), ENETDOWN);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('broadcast with IP_ALLOWBROADCAST goes to ff:ff:ff:ff:ff:ff and is not answered (no bmcast echo)', async (t) => {
  const l = await lan();
  t.is(ipOutput(inet(l.a), echo(l.a), 0, ip('192.0.2.255'), 1, 64, 0, IP_ALLOWBROADCAST), 0);
  await l.ks.sim.settle();
  t.is(l.seen.length, 1, 'no ARP for a broadcast');
  t.is(l.seen[0]!.dstMac, 'ff:ff:ff:ff:ff:ff');
  t.is(icmpstat(l.b).bmcastecho, 1);
  t.is(icmpstat(l.a).inhist[ICMP_ECHOREPLY], 0);
  await haltAll(l.ks);
});

test('IP_RAWOUTPUT completes the caller header: length, id, source, checksum', async (t) => {
  const l = await lan();
  const pkt = ipPacket({ src: '0.0.0.0', dst: '192.0.2.2', p: 1, id: 0, len: 0, payload: icmpMessage(ICMP_ECHO, 0, 5, new Uint8Array(24)) });
  pkt[10] = 0;
  pkt[11] = 0;
  t.is(ipOutput(inet(l.a), l.a.mbufs.copyin(pkt, 0, pkt.length)!, 0, 0, 0, 0, 0, IP_RAWOUTPUT), 0);
  await l.ks.sim.settle();
  const out = l.seen.find((f) => f.ip?.icmpType === ICMP_ECHO)!;
  t.like(out.ip, { src: '192.0.2.1', len: pkt.length });
  t.not(out.ip!.id, 0);
  t.is(inCksum(out.frame, 14, 20), 0);
  t.is(ipstat(l.a).rawout, 1);
  t.is(icmpstat(l.a).inhist[ICMP_ECHOREPLY], 1);
  t.is(inSelectSrc(inet(l.a), ip('192.0.2.77')), ip('192.0.2.1'));
  t.is(inSelectSrc(inet(l.a), ip('127.0.0.1')), ip('127.0.0.1'));
  t.is(inSelectSrc(inet(l.a), ip('203.0.113.1')), 0);
  await haltAll(l.ks);
});

test('at the memory limit, fragmenting fails with ENOBUFS (odropped) and both sides recover', async (t) => {
  const l = await lan({ RUMP_MEMLIMIT: '64k' });
  sendEcho(l.a, '192.0.2.2'); // resolve ARP first
  await l.ks.sim.settle();
  const big = echo(l.a, 8000);
  // Hold the rest of the memory, as a slow application's socket buffers would.
  const hog = [];
  for (const size of [4096, 256, 16]) {
    for (;;) {
      const m = l.a.mbufs.get(size, 0);
      if (!m) break;
      hog.push(m);
    }
  }
  t.is(ipOutput(inet(l.a), big, 0, ip('192.0.2.2'), 1, 64, 0, 0), ENOBUFS);
  t.is(ipstat(l.a).odropped, 1);
  // Traffic arriving now cannot be copied into a: dropped by the driver, nothing thrown.
  sendEcho(l.b, '192.0.2.1');
  await l.ks.sim.settle();
  for (const m of hog) l.a.mbufs.free(m);
  t.is(sendEcho(l.a, '192.0.2.2', { size: 8000 }), 0);
  await l.ks.sim.settle();
  t.is(icmpstat(l.a).inhist[ICMP_ECHOREPLY], 2);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});
