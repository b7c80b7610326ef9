/*
 * RUMP_MEMLIMIT that bites (issue 13 item 3): a server kernel capped at
 * 256 KiB of packet and socket buffers takes bulk transfers both ways,
 * hundreds of connections and a SYN flood at once, on the simulated clock.
 * Its callers get ENOBUFS, its packet path drops and counts (the memory
 * account's refusals, netstat -m's "requests for memory denied", the
 * protocols' own counters), its memory never passes the cap, nothing
 * throws, and once the load stops a transfer runs as fast as before it.
 *
 *     kernel A (clients, no cap)                  kernel B (server, RUMP_MEMLIMIT=256k)
 *     hub0 10.0.0.1/24 ═══════════ hub "lan" ═══════════ hub0 10.0.0.2/24
 *                                     ▲ spoofed SYNs from 172.16/12 (B: default via A)
 */
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';

import test from 'ava';
import { SpoofedSyns } from '../../bench/flood_frames.js';
import { main as netstat } from '../../bin/rump.netstat.js';
import { createSimHost } from '../../hypercall/sim.js';
import { Errno } from '../../kern/errno.js';
import { bootKernel } from '../../kern/init.js';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, SOCK_STREAM } from '../../kern/sys.js';
import { inet } from '../../net/inet/inet.js';
import { run } from '../bin/helpers.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { NET_COMPONENTS, STRANGER_MAC, ifconfig, ifnet, ip, route } from '../helpers/kernels.js';
import { A_ADDR, B_ADDR, PORT, sin } from './pair.js';

const CAP = 256 * 1024;
const BULK = 2 * 1024 * 1024;

async function lan() {
  const sim = createSimHost({ seed: 41 });
  const a = bootKernel({ components: NET_COMPONENTS, host: sim, env: {} });
  const b = bootKernel({ components: NET_COMPONENTS, host: sim, env: { RUMP_MEMLIMIT: String(CAP) } });
  const hub = new Hub('lan');
  attachEther(a, hub);
  attachEther(b, hub);
  ifconfig(a, 'hub0', `${A_ADDR}/24`);
  ifconfig(b, 'hub0', `${B_ADDR}/24`);
  await route(b, { type: 'add', dst: 'default', gateway: A_ADDR });
  await sim.run(1);
  return { sim, a, b, hub };
}

/** Write `n` bytes on `fd`, waiting a little whenever the kernel says ENOBUFS (as a program retries); counts them in `enobufs`. */
async function writeN(k: Kernel, fd: number, n: number, enobufs: { n: number }, wait: (ms: number) => Promise<void>): Promise<void> {
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  for (let sent = 0; sent < n; ) {
    try {
      sent += await k.sys.write(fd, chunk.subarray(0, Math.min(chunk.length, n - sent)));
    } catch (e) {
      if (!(e instanceof Errno) || e.code !== 'ENOBUFS') throw e;
      enobufs.n++;
      await wait(10);
    }
  }
}

async function readAll(k: Kernel, fd: number): Promise<number> {
  let got = 0;
  for (;;) {
    const d = await k.sys.read(fd, 256 * 1024);
    if (d.length === 0) return got;
    got += d.length;
  }
}

test('under RUMP_MEMLIMIT: bulk both ways, 300 connections and a SYN flood at once; ENOBUFS, counted drops, never past the cap, nothing throws; full speed after', async (t) => {
  const { sim, a, b, hub } = await lan();
  // A sleep on the simulated clock for the user programs here (ENOBUFS back-off, the reader's pauses).
  const wait = (ms: number): Promise<void> => new Promise((r) => b.callouts.create(r, undefined).reset(ms));
  const lfd = await b.sys.socket(AF_INET, SOCK_STREAM, 0);
  await b.sys.bind(lfd, sin('0.0.0.0', PORT));
  await b.sys.listen(lfd, 512);
  const accepted: number[] = [];
  let stopAccepting = false;
  const acceptor = (async () => {
    while (!stopAccepting) {
      try {
        accepted.push((await b.sys.accept(lfd)).fd);
      } catch {
        return;
      }
    }
  })();
  const connect = async (): Promise<number> => {
    const fd = await a.sys.socket(AF_INET, SOCK_STREAM, 0);
    await a.sys.connect(fd, sin(B_ADDR, PORT));
    return fd;
  };
  /** A→B: `n` bytes, read by B as they come; the simulated time it took, and the frames dropped and segments resent meanwhile. */
  const transfer = async (n: number): Promise<{ ms: number; dropped: number; resent: number }> => {
    const t0 = sim.now();
    const d0 = hub.drops;
    const r0 = inet(a).tcpstat.sndrexmitpack + inet(b).tcpstat.sndrexmitpack;
    const cfd = await connect();
    while (accepted.length === 0) await wait(1);
    const sfd = accepted.shift()!;
    const reader = readAll(b, sfd);
    await writeN(a, cfd, n, { n: 0 }, wait);
    await a.sys.close(cfd);
    t.is(await reader, n);
    await b.sys.close(sfd);
    return { ms: sim.now() - t0, dropped: hub.drops - d0, resent: inet(a).tcpstat.sndrexmitpack + inet(b).tcpstat.sndrexmitpack - r0 };
  };
  const settle = async <T>(p: Promise<T>): Promise<T> => {
    let done = false;
    void p.finally(() => (done = true));
    await sim.runUntil(() => done, 600_000);
    return p;
  };

  const before = await settle(transfer(BULK));

  // The load. Four bulk streams A→B whose reader on B stalls, four B→A that A reads as they come.
  const enobufs = { n: 0 };
  const load: Array<Promise<unknown>> = [];
  const streams: Array<{ cfd: number; sfd: number }> = [];
  for (let i = 0; i < 8; i++) {
    const p = connect();
    await sim.run(5);
    const cfd = await p;
    while (accepted.length === 0) await sim.run(1);
    streams.push({ cfd, sfd: accepted.shift()! });
  }
  for (const [i, s] of streams.entries()) {
    if (i < 4) load.push(writeN(a, s.cfd, BULK, { n: 0 }, wait).then(() => a.sys.close(s.cfd)));
    else {
      load.push(writeN(b, s.sfd, BULK, enobufs, wait).then(() => b.sys.close(s.sfd)));
      load.push(readAll(a, s.cfd).then(() => a.sys.close(s.cfd)));
    }
  }
  // 300 more connections, idle once made.
  const many: Array<Promise<number | null>> = [];
  for (let i = 0; i < 300; i++) many.push(connect().catch(() => null));
  // And 100,000 SYNs a second from nowhere, for 3 s, sampling B's memory each millisecond.
  const syns = new SpoofedSyns(ifnet(b, 'hub0').lladdr!, STRANGER_MAC, ip(B_ADDR), PORT);
  b.mem.peak = b.mem.used;
  for (let ms = 0; ms < 3000; ms++) {
    for (let i = 0; i < 100; i++) hub.inject(syns.make(ms * 100 + i));
    await sim.run(1);
  }
  const peak = b.mem.peak;
  const denied = b.mbufs.stats.drops;
  t.true(peak <= CAP, `B's accounted memory ${peak} within ${CAP}`);
  t.true(peak > CAP * 0.75, `the cap bit (peak ${peak})`);
  t.true(enobufs.n > 0, `B's writers got ENOBUFS (${enobufs.n} times)`);
  t.true(denied > 0, `B refused ${denied} buffers`);
  t.true(hub.drops > 0, `frames B had no buffer for were dropped (${hub.drops})`);
  t.is(b.mem.failures, denied + inet(b).tcp!.syncache.nomem, 'every refusal counted once (buffers, SYN cache entries)');
  const ms = await run(netstat, ['-m'], b.sys);
  t.regex(ms.out, new RegExp(`^${denied} requests for memory denied$`, 'm'), ms.out);
  t.regex(ms.out, /^\d+ Kbytes allocated to network \(\d+% of the 256 Kbyte limit, peak \d+\)$/m, ms.out);

  // The load stops: B's readers catch up, everything closes.
  for (const s of streams.slice(0, 4)) load.push(readAll(b, s.sfd).then(() => b.sys.close(s.sfd)));
  await settle(Promise.all(load));
  const made = (await settle(Promise.all(many))).filter((fd): fd is number => fd !== null);
  t.true(made.length >= 250, `${made.length} of 300 connections made under the load`);
  for (const fd of made) await a.sys.close(fd);
  stopAccepting = true;
  await sim.run(2000);
  for (const fd of accepted.splice(0)) await b.sys.close(fd);
  await sim.run(5 * 60_000);
  t.true(b.mem.used < 64 * 1024, `B's memory released (${b.mem.used} bytes held)`);

  stopAccepting = false;
  const acceptor2 = (async () => {
    while (!stopAccepting) {
      try {
        accepted.push((await b.sys.accept(lfd)).fd);
      } catch {
        return;
      }
    }
  })();
  // Handshakes B finished late (a cookie whose ACK was lost, completed by
  // the client's FIN) wait in the listen queue: not the transfer's.
  await sim.run(10);
  for (const fd of accepted.splice(0)) await b.sys.close(fd);
  await sim.run(1000);
  const after = await settle(transfer(BULK));
  t.log(`${BULK} bytes: ${before.ms} ms before the load, ${after.ms} ms after; peak ${peak} of ${CAP}; ENOBUFS ${enobufs.n}; ` +
    `buffers refused ${denied}; frames dropped ${hub.drops}; SYN-ACKs not sent ${inet(b).tcpstat.sc_dropped}`);
  // The hub has no delay or bandwidth of its own, so "as fast" is: no longer in simulated time, nothing dropped or resent.
  t.deepEqual(before, { ms: before.ms, dropped: 0, resent: 0 }, 'the transfer before the load ran clean');
  t.deepEqual(after, before, 'and so does the one after it');
  stopAccepting = true;
  await b.sys.close(lfd);
  await settle(Promise.all([acceptor, acceptor2]));
  t.pass();
});
