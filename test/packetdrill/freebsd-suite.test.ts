/*
 * FreeBSD's TCP test suite (test/fixtures/freebsd-tcp-testsuite, a
 * verbatim copy with its LICENSE.md) against this kernel: every script
 * must pass, unedited, with the freebsd profile and no tolerance widened.
 * A script the runner cannot interpret counts as a failure.
 */
import test from 'ava';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { runScripts, summaryLine } from '../../packetdrill/runner.js';

const SUITE = 'test/fixtures/freebsd-tcp-testsuite';

function scripts(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...scripts(p));
    else if (n.endsWith('.pkt')) out.push(p);
  }
  return out;
}

const all = scripts(SUITE);
const ipv6 = all.filter((f) => f.endsWith('-ipv6.pkt'));
const ipv4 = all.filter((f) => !f.endsWith('-ipv6.pkt'));

test('the suite is all there: 69 scripts, 3 of them IPv6', (t) => {
  t.is(all.length, 69);
  t.is(ipv6.length, 3);
});

test('every IPv4 script of the FreeBSD TCP suite passes', async (t) => {
  const suite = await runScripts(ipv4);
  for (const r of suite.results) if (!r.passed) t.log(`${r.failure}\n`);
  t.is(suite.failed, 0, summaryLine(suite));
});

// Run on a kernel with net_netinet6: the runner resolves the gateway by
// Neighbor Discovery and speaks ICMPv6 for the script's ICMP lines.
test('every IPv6 script of the FreeBSD TCP suite passes', async (t) => {
  const suite = await runScripts(ipv6);
  for (const r of suite.results) if (!r.passed) t.log(`${r.failure}\n`);
  t.is(suite.failed, 0, summaryLine(suite));
});
