/*
 * A SYN flood at 100,000 SYNs per second of simulated time, from spoofed
 * sources nobody answers for, while real clients connect to the same
 * listener (issue 13 item 2): the SYN cache fills to its limit and stays
 * there, SYN cookies answer the rest (RFC 4987 §3.6), the clients get in,
 * and the kernel's memory stays flat.
 *
 *     kernel A (the clients)                          kernel B (the server, :7777)
 *     hub0 10.0.0.1/24 ═══════════ hub "lan" ═══════════ hub0 10.0.0.2/24
 *                                     ▲                   default via 10.0.0.1
 *                       spoofed SYNs from 172.16.0.0/12 (off-link: B's SYN-ACKs
 *                       go to A, which does not forward and drops them)
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, SOCK_STREAM } from '../../kern/sys.js';
import { inet } from '../../net/inet/inet.js';
import { SpoofedSyns } from '../../bench/flood_frames.js';
import { STRANGER_MAC, ifnet, ip, route } from '../helpers/kernels.js';
import { B_ADDR, PORT, bytes, pair, sin, text } from './pair.js';

/** B's server: accept, write "hi", close, for every connection, until the listener closes. */
async function serve(k: Kernel, lfd: number): Promise<number> {
  let served = 0;
  for (;;) {
    let fd: number;
    try {
      ({ fd } = await k.sys.accept(lfd));
    } catch {
      return served;
    }
    served++;
    void k.sys.write(fd, bytes('hi')).finally(() => k.sys.close(fd));
  }
}

/** One real client on A: connect, read to EOF; whether "hi" came within `deadline` (kernel uptime, ms). */
async function client(k: Kernel, deadline: number): Promise<boolean> {
  const fd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
  try {
    await k.sys.connect(fd, sin(B_ADDR, PORT));
    let got = '';
    for (;;) {
      const d = await k.sys.read(fd, 16);
      if (d.length === 0) break;
      got += text(d);
    }
    return got === 'hi' && k.uptime() <= deadline;
  } catch {
    return false;
  } finally {
    await k.sys.close(fd);
  }
}

test('100,000 spoofed SYNs per second for 2 s: >= 90 % of 200 real clients served, the SYN cache at its limit, cookies beyond, memory flat', async (t) => {
  const n = await pair(31);
  const { a, b, hub, sim } = n;
  await route(b, { type: 'add', dst: 'default', gateway: '10.0.0.1' });
  const limit = 1024;
  await b.sys.sysctlSet('net.inet.tcp.syncache.cachelimit', limit);
  const lfd = await b.sys.socket(AF_INET, SOCK_STREAM, 0);
  await b.sys.bind(lfd, sin('0.0.0.0', PORT));
  await b.sys.listen(lfd, 128);
  const server = serve(b, lfd);
  const syns = new SpoofedSyns(ifnet(b, 'hub0').lladdr!, STRANGER_MAC, ip(B_ADDR), PORT);

  const RATE_PER_MS = 100; // 100,000 per second
  const FLOOD_MS = 2000;
  const clients: Array<Promise<boolean>> = [];
  let sent = 0;
  let memMid = 0;
  let mbufsMid = 0;
  let calloutsMid = 0;
  for (let ms = 0; ms < FLOOD_MS; ms++) {
    for (let i = 0; i < RATE_PER_MS; i++) hub.inject(syns.make(sent++)); // the hub copies it
    // A real client every 10 ms; served means "hi" within 3 s (one SYN retransmission at most).
    if (ms % 10 === 0) clients.push(client(a, a.uptime() + 3000));
    await sim.run(1);
    if (ms === FLOOD_MS / 2) {
      memMid = b.mem.used;
      mbufsMid = b.mbufs.inUse;
      calloutsMid = b.callouts.count - inet(b).tcbtable.size;
      t.is(inet(b).tcp!.syncache.size, limit, 'the SYN cache is full half way');
    }
  }
  const cacheAtEnd = inet(b).tcp!.syncache.size;
  const memEnd = b.mem.used;
  const mbufsEnd = b.mbufs.inUse;
  const calloutsEnd = b.callouts.count - inet(b).tcbtable.size;
  const pcbsEnd = inet(b).tcbtable.size;
  await sim.run(5000);
  const ok = (await Promise.all(clients)).filter(Boolean).length;
  const st = inet(b).tcpstat;
  t.log(`SYNs ${sent}, clients served ${ok}/${clients.length}; cache ${cacheAtEnd}/${limit}; cookies sent ${st.sc_sendcookie}, ` +
    `taken ${st.sc_recvcookie}; B memory ${memMid} -> ${memEnd} bytes, mbufs ${mbufsMid} -> ${mbufsEnd}, callouts ${calloutsMid} -> ${calloutsEnd}`);
  t.is(sent, 200_000);
  t.true(ok >= 0.9 * clients.length, `${ok} of ${clients.length} clients served`);
  t.is(cacheAtEnd, limit, 'the cache never grows past syncache.cachelimit');
  t.true(st.sc_sendcookie >= sent - limit - st.sc_timed_out - st.sc_dropped, 'every SYN beyond the cache got a cookie');
  t.true(st.sc_recvcookie > 0, 'clients came in on cookies');
  t.true(Math.abs(memEnd - memMid) <= 64 * 1024, `B's accounted memory flat (${memMid} -> ${memEnd})`);
  t.true(mbufsEnd <= mbufsMid + 64, `B's packet buffers flat (${mbufsMid} -> ${mbufsEnd})`);
  // Timers beside the connections' own (the real clients' ends, TIME_WAIT included): the SYN cache's.
  t.true(calloutsEnd <= calloutsMid + 16 && calloutsEnd <= limit + 256, `B's timers flat (${calloutsMid} -> ${calloutsEnd})`);
  t.true(pcbsEnd <= clients.length + 1, `B holds PCBs only for real clients (${pcbsEnd})`);
  await b.sys.close(lfd);
  t.true((await server) >= ok, 'every client served was accepted by the server');
  await n.closeAllAndCheck(t);
});
