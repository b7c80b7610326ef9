/*
 * A SYN flood against a listener: the SYN cache stays at
 * net.inet.tcp.syn_cache_limit (FreeBSD: syncache.cachelimit), every
 * overflow is counted, memory stays flat, and a real client still gets in.
 *
 *     kernel under test                 the peer (harness.ts), many source ports
 *     hub0 10.0.0.1/24   ════ hub ════  10.0.0.2
 */
import test from 'ava';
import { AF_INET } from '../../kern/sys.js';
import { inet } from '../../net/inet/inet.js';
import { KERNEL_PORT, Peer, type OptSpec } from './harness.js';

const PLAIN: OptSpec[] = [['mss', 1460]];

test('16,000 SYNs from as many ports: the SYN cache stays at syn_cache_limit, overflows counted, memory flat; a client still connects', async (t) => {
  const p = await Peer.create({ sysctl: { 'net.inet.tcp.syncookies': 0 } });
  const k = p.k;
  t.is(await k.sys.sysctl('net.inet.tcp.syn_cache_limit'), 10240);
  await k.sys.sysctlSet('net.inet.tcp.syn_cache_limit', 100);
  t.is(await k.sys.sysctl('net.inet.tcp.syncache.cachelimit'), 100, 'one bound, two names');
  const lfd = await p.socket(false);
  await k.sys.bind(lfd, { family: AF_INET, addr: '0.0.0.0', port: KERNEL_PORT });
  await k.sys.listen(lfd, 8);
  let memAt = 0;
  for (let i = 0; i < 16_000; i++) {
    p.inject('S', 0, 0, { opts: PLAIN, sport: 10_000 + i });
    if (i % 100 === 99) {
      await p.sim.settle();
      p.drain();
    }
    if (i === 999) memAt = k.mem.used;
  }
  await p.sim.settle();
  p.drain();
  const st = inet(k).tcpstat;
  t.is(inet(k).tcp!.syncache.size, 100);
  t.is(st.sc_added, 16_000);
  t.is(st.sc_overflowed + st.sc_bucketoverflow, 16_000 - 100, 'netstat -s: dropped due to overflow');
  t.is(k.mem.used, memAt, 'memory flat');
  // A real handshake from a new port completes (it evicts the oldest entry).
  p.kiss = -1; // learn this connection's ISN from its SYN-ACK
  p.kport = KERNEL_PORT;
  await p.send('S', 0, 0, { opts: PLAIN, sport: 40_000 });
  const synack = p.drain().pop();
  t.regex(synack ?? '', /^S\. 0:0\(0\) ack 1 /);
  t.is(await p.states().then((l) => l.length), 101, 'the listener and 100 entries, the new one among them');
  await p.send('.', 1, 1, { sport: 40_000 });
  const { fd } = await k.sys.accept(lfd);
  t.true(fd >= 0);
  await p.finish(t);
});
