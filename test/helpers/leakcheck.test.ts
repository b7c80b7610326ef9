/*
 * The teardown leak check (test/helpers/kernels.ts leakCheck, haltAll)
 * counts before halt, so it can fail: each test plants one kind of leak
 * (a packet buffer, a callout that re-arms forever, a PCB nobody can close)
 * and shows the check catching it; a clean TCP exchange passes it.
 *
 *     kernel A  hub0 10.0.0.1/24 ═══ hub "lan" ═══ hub0 10.0.0.2/24  kernel B
 */
import test from 'ava';
import { AF_INET, SOCK_DGRAM, SOCK_STREAM } from '../../kern/sys.js';
import { pair, sin, A_ADDR, B_ADDR, PORT } from '../tcp/pair.js';
import { haltAll, held, leakCheck } from './kernels.js';

const MINUTE = 60_000;

test('a clean TCP exchange passes the check: every PCB, callout and packet buffer is gone before halt', async (t) => {
  const n = await pair();
  const { cfd, sfd } = await n.connected();
  await n.a.sys.write(cfd, new Uint8Array(5000));
  await n.sim.run(100);
  t.is((await n.b.sys.read(sfd, 10000)).length, 5000);
  t.true((await held(n.b)).pcbs >= 2, 'before the check: a listener and a connection');
  await leakCheck(t, n);
});

test('a planted packet buffer leak fails the check', async (t) => {
  const n = await pair();
  const kept = n.b.mbufs.get(100); // taken and never freed
  t.not(kept, null);
  const r = await t.try((tt) => leakCheck(tt, n, 30 * MINUTE));
  r.discard();
  t.false(r.passed, 'the check failed');
  t.regex(r.errors.map((e) => String(e.message)).join('\n'), /kernel 1 leaked/);
});

test('a planted callout that re-arms forever fails the check; haltAll reports it too', async (t) => {
  const n = await pair();
  const co = n.a.callouts.create<null>(() => co.reset(1000), null);
  co.reset(1000);
  const r = await t.try((tt) => leakCheck(tt, n, 30 * MINUTE));
  r.discard();
  t.false(r.passed);

  const m = await pair();
  const co2 = m.a.callouts.create<null>(() => co2.reset(1000), null);
  co2.reset(1000);
  // The count is taken before halt (after it, the heap is empty and proves nothing).
  t.deepEqual(await haltAll(m), { mbufsInUse: [0, 0], callouts: [1, 0] });
  t.is(m.a.callouts.count, 0, 'after halt the heap is empty: a count there could never fail');
});

test('a planted PCB that no descriptor reaches fails the check', async (t) => {
  const n = await pair();
  const fd = await n.a.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await n.a.sys.bind(fd, sin(A_ADDR, 5353));
  // Forget the descriptor without closing it: the PCB stays in the table.
  (n.a.sys as unknown as { files: unknown[] }).files[fd] = undefined;
  // Counted before the check: a failing check halts the kernels, and a halted kernel takes no calls.
  t.is((await held(n.a)).pcbs, 1);
  const r = await t.try((tt) => leakCheck(tt, n, 30 * MINUTE));
  r.discard();
  t.false(r.passed);
});

test('a TCP connection left open is closed by the check, which then passes once TIME_WAIT is over', async (t) => {
  const n = await pair();
  await n.connected();
  const fd = await n.a.sys.socket(AF_INET, SOCK_STREAM, 0);
  void n.a.sys.connect(fd, sin(B_ADDR, PORT + 1)).catch(() => {}); // refused: nothing listens there
  await n.sim.run(10);
  await leakCheck(t, n);
});
