/*
 * A SYN flood from Linux over a TAP device (bench/flood_tap.ts's tapFlood, in
 * a namespace this test makes and removes): 100,000 spoofed SYNs per second
 * written on tun0 with AF_PACKET while Linux's own TCP clients connect to a
 * rump kernel's kernel.net server.
 *
 *   namespace rumpnet-test-<pid>-<n>
 *   ┌──────────────────────────────────────────────────────────────────────┐
 *   │ Linux: tun0 10.199.0.1/24 ══ TAP ══ virt0 10.199.0.2/24 rump kernel   │
 *   │   spoofed SYNs (172.16/12), real clients        :5003 "hi", end       │
 *   └──────────────────────────────────────────────────────────────────────┘
 *
 * What must hold whatever the machine's load: the kernel survives, its SYN
 * cache stays at its limit with cookies answering the rest, its memory
 * does not grow with the flood, clients are served during it, and once it
 * stops every client is served again. The served fraction under the flood
 * depends on how much CPU the kernel gets in real time: bench/flood_tap.ts
 * records it (bench/results/flood-tap.json); the simulated-clock test
 * (test/tcp/flood.test.ts) asserts >= 90 % at 100,000 SYNs/s.
 */
import test from 'ava';
import { tapFlood } from '../../bench/flood_tap.js';
import { Netns, interopGate } from './helpers.js';
import { SYNCACHE_ENTRY_BYTES } from '../../net/inet/tcp/syncache.js';

const runnable = interopGate([['python3', 'python3']]);

test('100,000 spoofed SYNs/s from Linux over TAP: the kernel survives, SYN cache bounded, cookies, memory flat, clients served during and after', async (t) => {
  if (!runnable(t)) return;
  t.timeout(90_000);
  const ns = await Netns.create();
  try {
    const [base, flood, after] = await tapFlood(ns.name, { rate: 100_000, seconds: 3, clientEveryMs: 10, deadlineMs: 3000, tapQueue: 16384 });
    t.log(JSON.stringify({ base, flood, after }));
    t.is(base!.served, base!.clients, 'every client served without the flood');
    t.true(flood!.synsSent >= 100_000, `the flood ran (${flood!.synsSent} SYNs)`);
    t.true(flood!.synsHandledPerSec > 1000, 'the kernel took SYNs');
    t.true(flood!.cacheAtEnd <= flood!.cacheLimit, 'the SYN cache within its limit');
    t.true(flood!.cookiesSent > 0, 'cookies beyond the cache');
    t.true(flood!.served > 0, 'clients served during the flood');
    // Accounted memory: the SYN cache's entries at most (each is charged), and no more once it is full.
    t.true(flood!.memAfter - flood!.memBefore <= flood!.cacheLimit * SYNCACHE_ENTRY_BYTES + (1 << 20), 'accounted memory: the SYN cache at most');
    t.true(after!.memAfter <= after!.memBefore, 'accounted memory does not grow once the flood stops');
    // The SYN cache at its limit is the heap the flood may take (about 700 bytes an entry); nothing more.
    t.true(after!.heapAfter - base!.heapAfter < 16 << 20, `heap ${base!.heapAfter} -> ${after!.heapAfter}`);
    t.is(after!.served, after!.clients, 'every client served once the flood stopped');
  } finally {
    await ns.destroy();
  }
});
