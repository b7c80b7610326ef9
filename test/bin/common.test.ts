/*
 * What the tools share: getopt as BSD's, C-style number parsing, NetBSD's
 * flag formatting, reaching a kernel through RUMP_SERVER (or failing to,
 * with `prog: RUMP_SERVER ...: reason`), and running as a program.
 *
 *   rump.sysctl ── unix socket ── rump server (in this process) ── kernel
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import { IFF_NAMES } from '../../net/interface.js';
import { startRumpServer } from '../../sysproxy/server.js';
import { formatBits, getopt, parseCDouble, parseCInt, parseMask } from '../../bin/common.js';
import { main as sysctl } from '../../bin/rump.sysctl.js';
import { capture, run } from './helpers.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

test('getopt: clusters, attached and separate arguments, "--", stops at the first operand', (t) => {
  const c = capture();
  t.deepEqual(getopt('p', c.io, ['-nq', '-c3', '-i', '0.5', 'host', '-x'], 'c:i:nq'), {
    opts: [['n', undefined], ['q', undefined], ['c', '3'], ['i', '0.5']],
    rest: ['host', '-x'],
  });
  t.deepEqual(getopt('p', c.io, ['-n', '--', '-c'], 'c:n'), { opts: [['n', undefined]], rest: ['-c'] });
  t.deepEqual(getopt('p', c.io, ['-', 'x'], 'n'), { opts: [], rest: ['-', 'x'] });
  t.is(c.err(), '');
  t.is(getopt('p', c.io, ['-z'], 'n'), null);
  t.is(getopt('p', c.io, ['-c'], 'c:'), null);
  t.is(c.err(), 'p: unknown option -- z\np: option requires an argument -- c\n');
});

test('numbers as strtol(…, 0) and strtod read them, whole strings only', (t) => {
  t.is(parseCInt('10'), 10);
  t.is(parseCInt('0x10'), 16);
  t.is(parseCInt('010'), 8);
  t.is(parseCInt('-3'), -3);
  t.is(parseCInt('3x'), null);
  t.is(parseCInt('08'), null);
  t.is(parseCInt(''), null);
  t.is(parseCDouble('0.01'), 0.01);
  t.is(parseCDouble('.5'), 0.5);
  t.is(parseCDouble('1e-2'), 0.01);
  t.is(parseCDouble('1s'), null);
  t.is(parseMask('0xffffff00'), 0xffffff00);
  t.is(parseMask('255.255.0.0'), 0xffff0000);
  t.is(parseMask('0xfffffffff'), null);
});

test('flags as NetBSD\'s snprintb: 0x8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>', (t) => {
  t.is(formatBits(0x8843, IFF_NAMES), '0x8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>');
  t.is(formatBits(0x8049, IFF_NAMES), '0x8049<UP,LOOPBACK,RUNNING,MULTICAST>');
  t.is(formatBits(0, IFF_NAMES), '0x0');
});

test.serial('no RUMP_SERVER: "RUMP_SERVER is not set", exit 1', async (t) => {
  const saved = process.env['RUMP_SERVER'];
  delete process.env['RUMP_SERVER'];
  try {
    const r = await run(sysctl, ['kern.ostype']);
    t.is(r.err, 'rump.sysctl: RUMP_SERVER is not set\n');
    t.is(r.status, 1);
  } finally {
    if (saved !== undefined) process.env['RUMP_SERVER'] = saved;
  }
});

test.serial('an unreachable server: "RUMP_SERVER url: reason", exit 1', async (t) => {
  const saved = process.env['RUMP_SERVER'];
  const dir = mkdtempSync(join(tmpdir(), 'rump-bin-'));
  try {
    process.env['RUMP_SERVER'] = `unix://${dir}/nobody`;
    const r = await run(sysctl, ['kern.ostype']);
    t.is(r.err, `rump.sysctl: RUMP_SERVER unix://${dir}/nobody: No such file or directory\n`);
    t.is(r.status, 1);
    process.env['RUMP_SERVER'] = 'http://example.org/';
    const bad = await run(sysctl, ['kern.ostype']);
    t.regex(bad.err, /^rump\.sysctl: RUMP_SERVER http:\/\/example\.org\/: bad rump server URL/);
    t.is(bad.status, 1);
  } finally {
    if (saved === undefined) delete process.env['RUMP_SERVER'];
    else process.env['RUMP_SERVER'] = saved;
  }
});

test.serial('through RUMP_SERVER the tool works on the server\'s kernel', async (t) => {
  const k = bootKernel({ components: [], host: createSimHost() });
  const dir = mkdtempSync(join(tmpdir(), 'rump-bin-'));
  const server = await startRumpServer(k, `unix://${dir}/sock`);
  const saved = process.env['RUMP_SERVER'];
  process.env['RUMP_SERVER'] = server.url;
  try {
    const r = await run(sysctl, ['kern.ostype', 'kern.osrelease']);
    t.is(r.out, 'kern.ostype = NetBSD\nkern.osrelease = 7.99.34\n');
    t.is(r.status, 0);
    const w = await run(sysctl, ['-w', 'kern.ostype=Linux']);
    t.is(w.err, 'rump.sysctl: kern.ostype: Operation not permitted\n', 'the server\'s errno, NetBSD\'s words');
  } finally {
    if (saved === undefined) delete process.env['RUMP_SERVER'];
    else process.env['RUMP_SERVER'] = saved;
    await server.close();
    await k.halt();
  }
});

test('run as a program (through an npm-style symlink): usage on stderr, exit 1, no stack trace', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rump-bin-'));
  const link = join(dir, 'rump.route');
  symlinkSync(join(root, 'bin/rump.route.ts'), link);
  const r = spawnSync(process.execPath, ['--import', 'tsx', link], { cwd: root, encoding: 'utf8', env: { ...process.env, RUMP_SERVER: '' } });
  t.is(r.status, 1);
  t.is(r.stdout, '');
  t.is(r.stderr, 'Usage: rump.route [-dfLnqSsTtv] cmd [[-<qualifers>] args]\n');
  const s = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bin/rump.sysctl.ts'), 'kern.ostype'], {
    cwd: root, encoding: 'utf8', env: { ...process.env, RUMP_SERVER: `unix://${dir}/none` },
  });
  t.is(s.status, 1);
  t.is(s.stderr, `rump.sysctl: RUMP_SERVER unix://${dir}/none: No such file or directory\n`);
});
