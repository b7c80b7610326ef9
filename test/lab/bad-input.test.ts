/*
 * Bad input to the lab: impossible topologies and bad calls are rejected
 * with a message naming the part, change nothing, and nothing a test can do
 * through the public API crashes the lab (a seeded storm of calls, good and
 * bad, after which the network still carries traffic).
 */
import test from 'ava';
import { Buffer } from 'node:buffer';
import { createLab, type LabHost, type Segment } from '../../lab/index.js';
import { reaches } from '../helpers/lab.js';

test('impossible topologies: each rejected naming the part, nothing half-built', async (t) => {
  const lab = createLab();
  const a = lab.host('a');
  const b = lab.host('b');
  const c = lab.host('c');
  lab.link(a, b, {}, { net: '192.0.2.0/24' });
  const cases: Array<[() => unknown, RegExp]> = [
    // an address in two places
    [() => lab.link(b, c, {}, { net: '198.51.100.0/24', addrs: ['198.51.100.1', '198.51.100.1'] }), /198\.51\.100\.1 is already on host b/],
    [() => lab.bus('lan', [c, b], { net: '192.0.2.128/25', addrs: ['192.0.2.200', '192.0.2.201'] }), /lan: network 192\.0\.2\.128\/25 overlaps a-b \(192\.0\.2\.0\/24\)/],
    // hosts that are not there
    [() => lab.link(a, 'nobody'), /no host named nobody/],
    [() => lab.bus('lan', [a, 'ghost']), /no host named ghost/],
    [() => lab.link(a, createLab().host('a')), /host a belongs to another lab/],
    [() => lab.link(a, 7 as never), /a host is a LabHost or a name, not number/],
    [() => lab.link(a, a), /a link from a to itself/],
    [() => lab.bus('lan', [a, b, a]), /bus lan lists host a twice/],
    [() => lab.bus('lan', []), /bus lan needs an array of hosts/],
    [() => lab.bus('', [a]), /a bus needs a name/],
    [() => lab.bus('a-b', [c]), /already a segment named a-b/],
    // conditions
    [() => lab.link(b, c, { loss: 1.5 }), /b-c: loss must be a probability in \[0, 1\], not 1\.5/],
    [() => lab.link(b, c, { delay: -1 }), /b-c: delay must be a finite number >= 0, not -1/],
    [() => lab.link(b, c, { delay: Infinity }), /b-c: delay must be a finite number >= 0/],
    [() => lab.link(b, c, { jitter: NaN }), /b-c: jitter must be/],
    [() => lab.link(b, c, { rate: -5 }), /b-c: rate must be/],
    [() => lab.link(b, c, { queue: 0 }), /b-c: queue must be an integer >= 1/],
    [() => lab.link(b, c, { duplicate: -0.1 }), /b-c: duplicate must be a probability/],
    [() => lab.link(b, c, { mtu: 1500.5 }), /b-c: mtu must be an integer in \[68, 65535\]/],
    [() => lab.link(b, c, { colour: 'red' } as never), /b-c: unknown condition 'colour'/],
    [() => lab.link(b, c, null as never), /b-c: conditions must be an object/],
    // networks and addresses
    [() => lab.link(b, c, {}, { net: '10.0.0.0/33' }), /b-c: net must be A\.B\.C\.D\/len with len 8\.\.30, not 10\.0\.0\.0\/33/],
    [() => lab.link(b, c, {}, { net: '300.0.0.0/24' }), /b-c: net must be/],
    [() => lab.link(b, c, {}, { net: '203.0.113.0/24', addrs: ['203.0.113.1'] }), /b-c: addrs must give one address per host \(2\)/],
    [() => lab.link(b, c, {}, { net: '203.0.113.0/24', addrs: ['203.0.113.1', '198.51.100.2'] }), /address 198\.51\.100\.2 is not in 203\.0\.113\.0\/24/],
    [() => lab.link(b, c, {}, { net: '203.0.113.0/24', addrs: ['203.0.113.0', '203.0.113.2'] }), /203\.0\.113\.0 is the network's or its broadcast address/],
    [() => lab.link(b, c, {}, { net: '203.0.113.0/24', addrs: ['203.0.113.1', 'x'] }), /bad address "x"/],
    [() => lab.bus('big', [a, b, c], { net: '203.0.113.0/30' }), /big: 3 hosts do not fit in \/30/],
    [() => lab.link(b, c, {}, null as never), /b-c's options must be an object/],
    // hosts
    [() => lab.host('a'), /already a host named a/],
    [() => lab.host(''), /a host name is a letter/],
    [() => lab.host('x', { components: 'net' as never }), /host x: components must be an array of names/],
    [() => lab.host('x', null as never), /host x's options must be an object/],
    [() => lab.host('x', { components: ['net_nosuch'] }), /net_nosuch/],
    // the lab itself
    [() => createLab({ seed: 1.5 }), /seed must be an integer, not 1\.5/],
    [() => createLab({ capture: 'yes' as never }), /capture must be true or false/],
    [() => createLab({ routes: 'some' as never }), /routes must be 'auto' or 'none'/],
    [() => createLab(null as never), /createLab options must be an object/],
    [() => lab.partition(a, a), /cannot partition a from itself/],
    [() => lab.partition([a, b], [c, b]), /cannot partition b from itself/],
    [() => lab.partition(a, b, null as never), /partition options must be an object/],
    [() => lab.heal(a), /heal takes two sides or none/],
    [() => lab.segments[0]!.set({ loss: 2 }), /a-b: loss must be/],
    [() => lab.segments[0]!.set({}, c), /host c is not on a-b/],
    [() => lab.segments[0]!.faults('nobody'), /no host named nobody/],
  ];
  for (const [call, message] of cases) t.throws(call, { message }, String(message));
  t.false(lab.segments[0]!.stats.partitioned > 0);
  t.deepEqual(lab.segments.map((s) => s.name), ['a-b'], 'no segment was made');
  t.deepEqual([...lab.hosts.keys()], ['a', 'b', 'c'], 'no host was made');
  t.deepEqual(c.addresses, []);
  // Time: finite and not negative.
  await t.throwsAsync(lab.run(-1), { message: /run takes a finite number of ms >= 0, not -1/ });
  await t.throwsAsync(lab.run(Infinity), { message: /run takes a finite number of ms >= 0, not Infinity/ });
  await t.throwsAsync(lab.run('5' as never), { message: /run takes a finite number/ });
  await t.throwsAsync(lab.runUntil(Promise.resolve(), NaN), { message: /runUntil takes a finite number of ms >= 0, not NaN/ });
  await t.throwsAsync(lab.quiesce(-3), { message: /quiesce takes a finite number/ });
  const twice = lab.run(10);
  await t.throwsAsync(lab.run(10), { message: /already being driven/ }, 'one clock, one driver');
  await twice;
  // And the network still works.
  t.true(await reaches(lab, a, b));
  await lab.halt();
  t.throws(() => lab.host('late'), { message: /lab: halted/ });
  t.throws(() => lab.link(a, b), { message: /lab: halted/ });
  await t.throwsAsync(lab.restart(a), { message: /lab: halted/ });
});

test('automatic networks skip what was given by hand', async (t) => {
  const lab = createLab();
  const a = lab.host('a');
  const b = lab.host('b');
  lab.link(a, b, {}, { net: '10.0.2.0/24' });
  t.is(lab.link(a, b).net, '10.0.1.0/24');
  t.is(lab.link(a, b).net, '10.0.3.0/24', '10.0.2.0/24 is taken');
  await lab.halt();
});

/** splitmix32, for the storm below. */
function rng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}

test('a storm of calls, good and bad, never crashes the lab; every refusal is a lab: message', async (t) => {
  const lab = createLab({ seed: 9 });
  const hosts: LabHost[] = [lab.host('h0'), lab.router('r0'), lab.host('h1')];
  lab.link(hosts[0]!, hosts[1]!);
  lab.link(hosts[1]!, hosts[2]!);
  const r = rng(12345);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const values = [0, 1, -1, 0.5, 1.5, NaN, Infinity, 1e9, 'x', null, undefined, {}, [], 68, 100, 2000];
  const keys = ['delay', 'jitter', 'loss', 'duplicate', 'reorder', 'reorderDelay', 'corrupt', 'rate', 'queue', 'mtu', 'bogus'];
  const refOf = (): unknown => pick<unknown>([...hosts, ...hosts.map((h) => h.name), 'nobody', 42, null]);
  let refused = 0;
  let done = 0;
  for (let i = 0; i < 400; i++) {
    const seg: Segment = pick(lab.segments);
    const cond = { [pick(keys)]: pick(values) } as never;
    const calls: Array<() => unknown> = [
      () => lab.link(refOf() as never, refOf() as never, r() < 0.7 ? {} : cond),
      () => lab.bus(`bus${i}`, [refOf(), refOf()] as never),
      () => hosts.push(r() < 0.5 ? lab.host(`n${i}`) : lab.router(`n${i}`)),
      () => seg.set(cond, r() < 0.5 ? undefined : refOf() as never),
      () => seg.clear(),
      () => lab.partition(refOf() as never, refOf() as never, { oneWay: r() < 0.5 }),
      () => lab.heal(),
      () => seg.partition(),
      () => seg.heal(),
      () => lab.crash(refOf() as never),
      () => lab.restart(refOf() as never),
      () => lab.run(pick(values) as never),
      () => { const h = pick(hosts); const s = h.dgram.createSocket('udp4'); s.on('error', () => s.close()); s.send(Buffer.alloc(10), 9, '10.0.1.1', () => s.close()); },
    ];
    try {
      const v = pick(calls)();
      if (v instanceof Promise) await v;
      done++;
    } catch (e) {
      refused++;
      t.true(e instanceof Error && /^lab: |^faultyLink|already being driven/.test(e.message) && !(e instanceof ReferenceError), `call ${i}: ${String(e)}`);
    }
  }
  t.true(refused > 50 && done > 50, `${refused} refused, ${done} done`);
  // Whatever happened, healed and cleared the first path carries traffic.
  lab.heal();
  for (const s of lab.segments) s.clear();
  for (const h of hosts.slice(0, 3)) if (h.kernel.halted) await lab.restart(h);
  await lab.run(1000);
  t.true(await reaches(lab, hosts[0]!, hosts[2]!));
  await lab.halt();
});
