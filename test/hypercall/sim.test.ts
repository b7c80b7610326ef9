// The sim host: a virtual clock that only moves when driven, timers in
// deadline order, seeded randomness, in-memory bus files.
import test from 'ava';

import { createSimHost } from '../../hypercall/sim.js';

test('the clock starts at 0 and moves only when driven', async (t) => {
  const host = createSimHost();
  t.is(host.now(), 0);
  await host.run(250);
  t.is(host.now(), 250);
  await host.settle();
  t.is(host.now(), 250);
});

test('timers fire in deadline order, ties in the order they were armed', async (t) => {
  const host = createSimHost();
  const fired: string[] = [];
  const at = (name: string, deadline: number) =>
    host.armTimer(deadline, () => fired.push(`${name}@${host.now()}`));
  at('c', 30);
  at('a', 10);
  at('b1', 20);
  at('b2', 20);
  at('d', 40);
  await host.run(35);
  t.deepEqual(fired, ['a@10', 'b1@20', 'b2@20', 'c@30']);
  t.is(host.now(), 35);
  t.is(host.pending(), 1);
  await host.run(5);
  t.deepEqual(fired.slice(4), ['d@40']);
  t.is(host.pending(), 0);
});

test('run() includes timers due exactly at its end and none after', async (t) => {
  const host = createSimHost();
  const fired: number[] = [];
  host.armTimer(100, () => fired.push(100));
  host.armTimer(100.5, () => fired.push(100.5));
  await host.run(100);
  t.deepEqual(fired, [100]);
  t.is(host.now(), 100);
});

test('a cancelled timer never fires and no longer counts as pending', async (t) => {
  const host = createSimHost();
  const fired: string[] = [];
  const a = host.armTimer(10, () => fired.push('a'));
  host.armTimer(20, () => fired.push('b'));
  const c = host.armTimer(30, () => fired.push('c'));
  host.cancelTimer(a);
  host.cancelTimer(a); // idempotent
  t.is(host.pending(), 2);
  await host.run(25);
  host.cancelTimer(c);
  t.is(host.pending(), 0);
  await host.run(100);
  t.deepEqual(fired, ['b']);
});

test('a timer can cancel one due later; a cancelled handle stays cancelled', async (t) => {
  const host = createSimHost();
  const fired: string[] = [];
  const later = host.armTimer(10, () => fired.push('second'));
  host.cancelTimer(later);
  const second = host.armTimer(10, () => fired.push('second'));
  host.armTimer(5, () => {
    fired.push('first');
    host.cancelTimer(second);
  });
  await host.run(10);
  t.deepEqual(fired, ['first']);
});

test('a timer armed in the past fires at the current time, after deferred work', async (t) => {
  const host = createSimHost();
  await host.run(50);
  const order: string[] = [];
  const timer = host.armTimer(10, () => order.push(`timer@${host.now()}`));
  host.defer((what: string) => order.push(`${what}@${host.now()}`), 'softint');
  t.is(timer.deadline, 10);
  await host.settle();
  t.deepEqual(order, ['softint@50', 'timer@50']);
});

test('deferred work runs in FIFO order at the current time, before any timer', async (t) => {
  const host = createSimHost();
  const order: string[] = [];
  host.armTimer(0, () => {
    order.push('timer');
    host.defer((n: number) => order.push(`from timer ${n}`), 3);
  });
  host.defer((n: number) => {
    order.push(`deferred ${n}`);
    host.defer((m: number) => order.push(`deferred ${m}`), 2);
  }, 1);
  t.deepEqual(order, [], 'defer never runs re-entrantly');
  await host.settle();
  t.deepEqual(order, ['deferred 1', 'deferred 2', 'timer', 'from timer 3']);
  t.is(host.now(), 0);
});

test('promise continuations run at the virtual time of the event that resolved them', async (t) => {
  const host = createSimHost();
  const seen: number[] = [];
  const sleep = (ms: number) => new Promise<void>((resolve) => host.armTimer(host.now() + ms, resolve));
  const app = (async () => {
    await sleep(10);
    seen.push(host.now());
    await sleep(15);
    seen.push(host.now());
    await Promise.resolve();
    seen.push(host.now());
  })();
  host.armTimer(20, () => seen.push(-20)); // an unrelated timer between the two sleeps
  await host.run(100);
  await app;
  t.deepEqual(seen, [10, -20, 25, 25]);
});

test('runUntil stops at the event that made the predicate true', async (t) => {
  const host = createSimHost();
  let count = 0;
  for (let i = 1; i <= 10; i++) host.armTimer(i * 7, () => count++);
  t.true(await host.runUntil(() => count === 3, 1000));
  t.is(host.now(), 21);
  t.false(await host.runUntil(() => count === 100, 30));
  t.is(host.now(), 51);
  t.is(count, 7);
});

test('an error thrown by a timer rejects run() and leaves the host usable', async (t) => {
  const host = createSimHost();
  host.armTimer(5, () => {
    throw new Error('kernel bug');
  });
  let after = 0;
  host.armTimer(6, () => after++);
  await t.throwsAsync(host.run(10), { message: 'kernel bug' });
  t.is(host.now(), 5);
  await host.run(5);
  t.is(after, 1);
});

test('run() refuses to be driven twice at once', async (t) => {
  const host = createSimHost();
  const first = host.run(10);
  await t.throwsAsync(host.run(10), { message: /already being driven/ });
  await first;
  t.is(host.now(), 10);
});

function draw(seed: number, n: number): number[] {
  const host = createSimHost({ seed });
  return Array.from({ length: n }, () => host.random32());
}

test('the same seed gives the same random sequence; another seed differs', (t) => {
  const a = draw(42, 64);
  t.deepEqual(draw(42, 64), a);
  t.notDeepEqual(draw(43, 64), a);
  for (const x of a) t.true(Number.isInteger(x) && x >= 0 && x <= 0xffffffff);
  t.true(new Set(a).size > 60, 'no short cycle');
});

test('randomFill is seeded too, and fills odd lengths completely', (t) => {
  const fill = (seed: number) => {
    const buf = new Uint8Array(37);
    createSimHost({ seed }).randomFill(buf);
    return buf;
  };
  t.deepEqual(fill(9), fill(9));
  t.notDeepEqual(fill(9), fill(10));
  t.true(fill(9).subarray(32).some((b) => b !== 0));
});

test('random32 is roughly uniform over its high bits', (t) => {
  const host = createSimHost({ seed: 2024 });
  const buckets = new Array<number>(16).fill(0);
  for (let i = 0; i < 16000; i++) buckets[host.random32() >>> 28]!++;
  for (const b of buckets) t.true(b > 850 && b < 1150, `bucket ${b}`);
});

test('getparam reads only the options, never the process environment', (t) => {
  process.env.RUMP_SIM_TEST_PARAM = 'leak';
  const host = createSimHost({ env: { RUMP_NCPU: '3' }, ncpu: 8, hostname: 'h1', pid: 77 });
  t.is(host.getparam('RUMP_NCPU'), '3');
  t.is(host.getparam('RUMP_SIM_TEST_PARAM'), undefined);
  t.is(host.hostNcpu(), 8);
  t.is(host.hostName(), 'h1');
  t.is(host.pid(), 77);
  delete process.env.RUMP_SIM_TEST_PARAM;
});

test('log collects messages in order', (t) => {
  const host = createSimHost();
  host.log('NetBSD booting');
  host.log('shmif0: Ethernet address b2:a0:00:00:00:01');
  t.deepEqual(host.logged, ['NetBSD booting', 'shmif0: Ethernet address b2:a0:00:00:00:01']);
});

test('holds are counted and released once each', (t) => {
  const host = createSimHost();
  const r1 = host.hold();
  const r2 = host.hold();
  t.is(host.holds(), 2);
  r1();
  r1();
  t.is(host.holds(), 1);
  r2();
  t.is(host.holds(), 0);
});

const SIZE = 1 << 20;

test('mapping one path twice shares the bytes; a fresh bus is zero-filled', (t) => {
  const host = createSimHost();
  const a = host.mapBus('bus1', SIZE);
  const b = host.mapBus('bus1', SIZE);
  const other = host.mapBus('bus2', SIZE);
  t.is(a.bytes.length, SIZE);
  t.true(a.bytes.every((x) => x === 0));
  a.bytes[100] = 0xab;
  t.is(b.bytes[100], 0xab);
  t.is(other.bytes[100], 0);
  t.is(host.files.get('bus1'), a.bytes);
  t.is(a.path, 'bus1');
});

test('cas32 and store32 on a sim bus behave like the native atomics', (t) => {
  const host = createSimHost();
  const a = host.mapBus('bus', SIZE);
  const b = host.mapBus('bus', SIZE);
  t.is(a.cas32(24, 0, 1), 0, 'lock taken');
  t.is(b.cas32(24, 0, 1), 1, 'second taker sees it held');
  b.store32(24, 0);
  t.is(b.cas32(24, 0, 0xca11d054), 0);
  t.is(a.cas32(24, 0xca11d054, 7), 0xca11d054, 'values above 2^31 compare as unsigned');
  t.is(new Uint32Array(a.bytes.buffer, a.bytes.byteOffset, 8)[6], 7, 'native byte order');
  t.throws(() => a.cas32(2, 0, 1), { instanceOf: RangeError });
  t.throws(() => a.store32(SIZE, 0), { instanceOf: RangeError });
});

test('a preloaded file is what the bus maps, cut or zero-extended to the size', (t) => {
  const host = createSimHost();
  const netbsd = new Uint8Array(SIZE);
  netbsd.set(new Uint8Array(new Uint32Array([0xca11d054]).buffer));
  host.files.set('from-netbsd', netbsd);
  const m = host.mapBus('from-netbsd', SIZE);
  t.is(m.bytes, netbsd);
  host.files.set('short', new Uint8Array([1, 2, 3]));
  const s = host.mapBus('short', 8);
  t.deepEqual([...s.bytes], [1, 2, 3, 0, 0, 0, 0, 0]);
  t.is(host.files.get('short'), s.bytes);
  t.throws(() => host.mapBus('short', 16), { message: /EINVAL/ });
});

test('wakeup defers the other mappings watchers, coalesced, never its own', async (t) => {
  const host = createSimHost();
  const writer = host.mapBus('bus', SIZE);
  const reader1 = host.mapBus('bus', SIZE);
  const reader2 = host.mapBus('bus', SIZE);
  const woken: string[] = [];
  writer.watch(() => woken.push('writer'));
  reader1.watch(() => woken.push('reader1'));
  const stop2 = reader2.watch(() => woken.push('reader2'));
  writer.wakeup();
  writer.wakeup();
  t.deepEqual(woken, [], 'deferred, never re-entrant');
  await host.settle();
  t.deepEqual(woken.sort(), ['reader1', 'reader2']);
  t.deepEqual([...writer.bytes.subarray(4, 8)], [...new Uint8Array(new Uint32Array([3]).buffer)], 'bus version word written');
  stop2();
  reader1.wakeup();
  reader2.close();
  await host.settle();
  t.deepEqual(woken.slice(2), ['writer']);
});

test('an unsubscribed or closed watcher queued before it left does not run', async (t) => {
  const host = createSimHost();
  const writer = host.mapBus('bus', SIZE);
  const reader = host.mapBus('bus', SIZE);
  let runs = 0;
  const stop = reader.watch(() => runs++);
  writer.wakeup();
  stop();
  await host.settle();
  t.is(runs, 0);
});

test('a closed mapping refuses atomics; the file survives for the next attach', (t) => {
  const host = createSimHost();
  const m = host.mapBus('bus', SIZE);
  m.store32(16, 99);
  m.close();
  m.close();
  t.throws(() => m.cas32(16, 0, 1), { instanceOf: RangeError });
  const again = host.mapBus('bus', SIZE);
  t.is(again.cas32(16, 0, 0), 99);
});
