/*
 * rump.packetdrill as a user runs it: scripts and directories on the
 * command line, a line per script, one summary line, the exit status.
 */
import test from 'ava';

import { main, parseArgs } from '../../bin/rump.packetdrill.js';
import { capture } from '../bin/helpers.js';

const DIR = 'test/fixtures/packetdrill-runner';

test('options: --name=value, --name value, bare flags, -D and --define, -v', (t) => {
  t.deepEqual(parseArgs(['--tolerance_usecs=5000', '--seed', '7', '--strict_packets', '-v', '-DX=1', '-D', 'Y', '--define', 'Z=2', 'a.pkt', 'dir']), {
    options: [['tolerance_usecs', '5000'], ['seed', '7'], ['strict_packets', null], ['verbose', null]],
    defines: [['X', '1'], ['Y', '1'], ['Z', '2']],
    paths: ['a.pkt', 'dir'],
  });
  t.is(parseArgs(['--mtu']), '--mtu needs a value');
  t.is(parseArgs(['-x']), 'unknown option -x');
});

test('a passing and a failing script: a line each, the failure explained, N passed, N failed, status 1', async (t) => {
  const c = capture();
  const status = await main([DIR], c.io);
  t.is(status, 1);
  const out = c.out();
  t.regex(out, /^ok {4}test\/fixtures\/packetdrill-runner\/udp-echo\.pkt {2}\(10 events, 0\.350000 s virtual\)$/m);
  t.regex(out, /^FAIL {2}test\/fixtures\/packetdrill-runner\/udp-wrong-length\.pkt\n {4}test\/fixtures\/packetdrill-runner\/udp-wrong-length\.pkt:9: outbound packet does not match: payload length\n/m);
  t.regex(out, / {6}payload length: expected 30, got 20\n/);
  t.true(out.endsWith('1 passed, 1 failed\n'));
});

test('status 0 when every script passed; usage without scripts; a missing file is a failure', async (t) => {
  const ok = capture();
  t.is(await main([`${DIR}/udp-echo.pkt`], ok.io), 0);
  t.true(ok.out().endsWith('1 passed, 0 failed\n'));
  const usage = capture();
  t.is(await main([], usage.io), 1);
  t.regex(usage.err(), /^usage: rump\.packetdrill/);
  const missing = capture();
  t.is(await main([`${DIR}/no-such.pkt`], missing.io), 1);
  t.regex(missing.out(), /no-such\.pkt: cannot read/);
  t.true(missing.out().endsWith('0 passed, 1 failed\n'));
});

test('--dry_run only parses; -v prints each event and each matched packet', async (t) => {
  const dry = capture();
  t.is(await main(['--dry_run', `${DIR}/udp-wrong-length.pkt`], dry.io), 0, 'a dry run only parses');
  const verbose = capture();
  await main(['-v', `${DIR}/udp-echo.pkt`], verbose.io);
  t.regex(verbose.out(), /^0\.100000 line 9: \+0\.00 recv\(3, \.\.\., 100, 0\) = 10$/m);
  t.regex(verbose.out(), /^ {2}matched 0\.100000 udp \(20\)/m);
});
