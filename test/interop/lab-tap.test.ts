/*
 * A real-time lab bridged to Linux over a TAP device (as root, in a network
 * namespace of the test's own): Linux pings a lab host two lab routers
 * away. The lab runs in a script inside the namespace
 * (scripts/lab-tap.ts), where its virt0 makes tun0.
 *
 *   Linux tun0 10.199.0.1 ══ TAP ══ virt0 10.199.0.2 edge ── r ── b 10.0.2.2
 */
import test from 'ava';
import { Netns, interopGate } from './helpers.js';

const runnable = interopGate();

test('Linux pings a host inside a real-time lab through a TAP device and two lab routers', async (t) => {
  if (!runnable(t)) return;
  t.timeout(90_000);
  const ns = await Netns.create();
  try {
    const r = await ns.node('test/interop/scripts/lab-tap.ts', [], undefined, 60);
    t.is(r.status, 0, r.stderr + r.stdout);
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      steps: Record<string, number>; out: string; ping: { status: number; stdout: string };
    };
    t.deepEqual(res.steps, { create: 0, inet: 0, route: 0, addr: 0, up: 0, via: 0 }, res.out);
    t.is(res.ping.status, 0, res.ping.stdout);
    // b answers with its own TTL 255 less the two lab routers on the way back.
    t.is(res.ping.stdout.match(/^64 bytes from 10\.0\.2\.2: icmp_seq=\d ttl=253 time=/gm)?.length, 3, res.ping.stdout);
  } finally {
    await ns.destroy();
  }
});
