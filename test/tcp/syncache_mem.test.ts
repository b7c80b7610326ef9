/*
 * The SYN cache under RUMP_MEMLIMIT (issue 13 item 5): every entry is
 * charged to the kernel's memory account, so a SYN flood stops growing the
 * cache at the cap (less the packet path's reserve) however large
 * net.inet.tcp.syncache.cachelimit is. Beyond it a SYN is dropped and
 * counted without cookies, or answered with a cookie with them; a real
 * client still gets in, and the charge goes when the entries time out.
 *
 *     kernel A (client)                         kernel B (server, RUMP_MEMLIMIT=192k, :7777)
 *     hub0 10.0.0.1/24 ═══════════ hub "lan" ═══════════ hub0 10.0.0.2/24
 *                                     ▲ spoofed SYNs from 172.16/12 (B: default via A)
 */
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';

import test from 'ava';
import { SpoofedSyns } from '../../bench/flood_frames.js';
import { createSimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import { AF_INET, SOCK_STREAM } from '../../kern/sys.js';
import { inet } from '../../net/inet/inet.js';
import { SYNCACHE_ENTRY_BYTES } from '../../net/inet/tcp/syncache.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { NET_COMPONENTS, STRANGER_MAC, ifconfig, ifnet, ip, route } from '../helpers/kernels.js';
import { A_ADDR, B_ADDR, PORT, sin } from './pair.js';

const CAP = 192 * 1024;

test('SYN cache entries are charged to RUMP_MEMLIMIT: past the cap SYNs are dropped (counted) or get cookies; a client still connects; the charge goes with the entries', async (t) => {
  const sim = createSimHost({ seed: 7 });
  const a = bootKernel({ components: NET_COMPONENTS, host: sim, env: {} });
  const b = bootKernel({ components: NET_COMPONENTS, host: sim, env: { RUMP_MEMLIMIT: String(CAP) } });
  const hub = new Hub('lan');
  attachEther(a, hub);
  attachEther(b, hub);
  ifconfig(a, 'hub0', `${A_ADDR}/24`);
  ifconfig(b, 'hub0', `${B_ADDR}/24`);
  await route(b, { type: 'add', dst: 'default', gateway: A_ADDR });
  await b.sys.sysctlSet('net.inet.tcp.syncookies', 0);
  const lfd = await b.sys.socket(AF_INET, SOCK_STREAM, 0);
  await b.sys.bind(lfd, sin('0.0.0.0', PORT));
  await b.sys.listen(lfd, 16);
  await sim.run(1);
  const base = b.mem.used;
  const st = inet(b).tcpstat;
  const cache = inet(b).tcp!.syncache;
  const syns = new SpoofedSyns(ifnet(b, 'hub0').lladdr!, STRANGER_MAC, ip(B_ADDR), PORT);
  let sent = 0;
  const flood = async (n: number) => {
    for (let ms = 0; ms < n / 50; ms++) {
      for (let i = 0; i < 50; i++) hub.inject(syns.make(sent++));
      await sim.run(1);
    }
  };

  await flood(2000);
  const held = cache.size;
  t.log(`cache ${held} entries of ${sent} SYNs; memory ${base} -> ${b.mem.used} of ${CAP}; dropped ${st.sc_dropped}`);
  t.true(held < 1000 && held * SYNCACHE_ENTRY_BYTES > CAP / 4, `the cap stopped the cache at ${held} entries (cachelimit 10240)`);
  t.true(b.mem.used <= CAP - CAP / 8, 'the packet path reserve is left');
  t.true(st.sc_dropped >= sent - held, 'every SYN refused is counted');
  t.is(cache.nomem, sent - held, 'each for want of memory');
  t.is(st.sc_sendcookie, 0);

  // With cookies the SYNs beyond the cap are answered, and a real client gets in.
  await b.sys.sysctlSet('net.inet.tcp.syncookies', 1);
  await flood(500);
  t.is(cache.size, held, 'the cache grows no further');
  t.true(st.sc_sendcookie >= 500, `cookies sent ${st.sc_sendcookie}`);
  const cfd = await a.sys.socket(AF_INET, SOCK_STREAM, 0);
  const c = a.sys.connect(cfd, sin(B_ADDR, PORT));
  const acc = b.sys.accept(lfd);
  await sim.run(100);
  await c;
  const { fd } = await acc;
  t.true(st.sc_recvcookie >= 1, 'the client came in on a cookie');

  // The entries time out (SYN-ACKs unanswered) and give back what they were charged.
  await sim.run(120_000);
  t.is(cache.size, 0);
  await a.sys.close(cfd);
  await b.sys.close(fd);
  await b.sys.close(lfd);
  await sim.run(120_000);
  t.true(b.mem.used <= base, `memory back to ${b.mem.used} (was ${base})`);
});
