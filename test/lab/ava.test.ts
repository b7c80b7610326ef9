/*
 * The lab's ava helper: a fresh lab per test, a teardown that fails the
 * test on a leak, and a failing test's pcapng and seed left behind.
 */
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failureFileName, withLab } from '../../lab/ava.js';
import type { Lab } from '../../lab/index.js';

const dir = mkdtempSync(join(tmpdir(), 'lab-ava-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const labs: Lab[] = [];

test.serial('each test gets a fresh lab on its own clock', withLab(async (t, lab) => {
  labs.push(lab);
  t.is(lab.now(), 0);
  t.is(lab.hosts.size, 0);
  const a = lab.host('a');
  const b = lab.host('b');
  lab.link(a, b);
  // A connection left open is closed by the teardown, and its timers run out.
  const server = b.net.createServer(() => {});
  server.listen(80);
  const c = a.net.connect(80, b.address);
  await lab.runUntil(new Promise((r) => c.once('connect', r)));
}, { dir }));

test.serial('a second test does not see the first one\'s lab', withLab((t, lab) => {
  labs.push(lab);
  t.not(labs[0], lab);
  t.is(lab.hosts.size, 0);
  t.true(labs[0]!.hosts.get('a')!.kernel.halted, 'the first lab was halted at its teardown');
}, { dir }));

// A packet buffer the test never frees: the teardown's leak check must fail the test.
test.serial.failing('a leaked packet buffer fails the test at teardown', withLab((_t, lab) => {
  const a = lab.host('leaky');
  lab.bus('lan', [a]);
  a.kernel.mbufs.get(100);
}, { dir, seed: 77 }));

test.serial('the failing test left its pcapng (with the leaky host\'s interface) where it said', (t) => {
  const file = join(dir, failureFileName('a leaked packet buffer fails the test at teardown'));
  t.true(existsSync(file));
  const bytes = readFileSync(file);
  t.is(bytes.readUInt32LE(0), 0x0a0d0d0a, 'a pcapng section header');
  t.true(bytes.includes(Buffer.from('leaky/eth0')), 'its interface block names the host');
  // A passing test leaves nothing.
  t.false(existsSync(join(dir, failureFileName('each test gets a fresh lab on its own clock'))));
});

test('failure file names keep letters, digits, dot, dash, underscore', (t) => {
  t.is(failureFileName('a/b: c d'), 'a_b_c_d.pcapng');
});

test('a test that halts its own lab passes the teardown', withLab(async (t, lab) => {
  const a = lab.host('a');
  const b = lab.host('b');
  lab.link(a, b);
  await lab.run(10);
  await lab.halt();
  t.true(a.kernel.halted);
}, { dir }));
