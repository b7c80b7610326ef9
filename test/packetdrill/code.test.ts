/*
 * `%{ … }%` snippets: the assertions packetdrill scripts write about
 * TCP_INFO, evaluated with Python's precedence, and everything else
 * refused by name.
 */
import test from 'ava';

import { codeConstants, runCode } from '../../packetdrill/code.js';
import { Unsupported } from '../../packetdrill/failure.js';
import { tcpInfoVars } from '../../packetdrill/runner.js';

function vars(extra: Record<string, number>): Map<string, number> {
  const m = codeConstants();
  for (const [k, v] of Object.entries(extra)) m.set(k, v);
  return m;
}

test('assertions on tcpi_state and tcpi_options, as the FreeBSD scripts write them', (t) => {
  const v = vars({ tcpi_state: 4, tcpi_options: 0x07 });
  t.notThrows(() => runCode('assert tcpi_state == TCPI_ESTABLISHED', v));
  t.notThrows(() => runCode('assert tcpi_options == TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE', v));
  t.notThrows(() => runCode('assert tcpi_options & TCPI_OPT_SACK != 0', v), '& binds tighter than != in Python');
  t.notThrows(() => runCode('assert not tcpi_options & TCPI_OPT_ECN', v));
  t.notThrows(() => runCode('assert 0 < tcpi_state < 5 and tcpi_state >= 4 or False', v), 'chained comparison');
  t.notThrows(() => runCode('\nassert tcpi_state == 4 # established\nassert tcpi_options == 7; assert 7 // 2 == 3\npass\n', v));
});

test('a failed assertion names the statement and the values it read', (t) => {
  const e = t.throws(() => runCode('assert tcpi_state == TCPI_CLOSE_WAIT', vars({ tcpi_state: 4 })));
  t.is(e.message, 'assertion failed: tcpi_state == TCPI_CLOSE_WAIT\n  with tcpi_state = 4 (TCPI_ESTABLISHED)');
  const m = t.throws(() => runCode('assert tcpi_options == 0, "no options"', vars({ tcpi_options: 2 })));
  t.is(m.message, 'assertion failed: tcpi_options == 0 (no options)\n  with tcpi_options = 2');
});

test('names the kernel does not report, and Python the runner does not evaluate, fail by name', (t) => {
  t.throws(() => runCode('assert tcpi_snd_cwnd == 10', vars({})), { message: /'tcpi_snd_cwnd' .* is not defined \(the kernel's TCP_INFO has no such field\)/ });
  for (const stmt of ['print(tcpi_state)', 'x = 1', 'assert tcpi_state is 4', 'assert len(x) == 1', 'assert 1.5 > 1']) {
    t.throws(() => runCode(stmt, vars({ tcpi_state: 4 })), { instanceOf: Unsupported }, stmt);
  }
});

test('TCP_INFO as the kernel returns it becomes tcpi_* numbers', (t) => {
  const v = tcpInfoVars({ tcpi_state: 4, options: 6, tcpi_rto: 1000, tcpi_snd_wscale: 6, ecn: false, tcpi_ca_name: 'newreno' });
  t.deepEqual([...v].sort(), [['tcpi_ecn', 0], ['tcpi_options', 6], ['tcpi_rto', 1000], ['tcpi_snd_wscale', 6], ['tcpi_state', 4]]);
  t.is(tcpInfoVars({ state: 'SYN_RCVD' }).get('tcpi_state'), 3);
  const bytes = new Uint8Array(16);
  bytes[0] = 10;
  bytes[5] = 1;
  bytes[6] = 0x46;
  t.deepEqual(Object.fromEntries(tcpInfoVars(bytes)), {
    tcpi_state: 10, tcpi_retransmits: 0, tcpi_probes: 0, tcpi_backoff: 0, tcpi_options: 1, tcpi_snd_wscale: 6, tcpi_rcv_wscale: 4,
  });
});
