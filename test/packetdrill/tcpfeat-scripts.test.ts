/*
 * Our own packetdrill scripts for the TCP features beyond the public FreeBSD
 * suite (test/fixtures/packetdrill-tcpfeat/<feature>/*.pkt): ECN (RFC 3168),
 * the TIME_WAIT and SYN-RCVD corners, MSS at the MTU limits, TCP Fast Open,
 * TCP over UDP. Each script runs unedited on a fresh kernel on the virtual
 * clock with the freebsd profile, and must pass.
 */
import test from 'ava';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { runScriptFile } from '../../packetdrill/runner.js';

const DIR = 'test/fixtures/packetdrill-tcpfeat';

function scripts(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...scripts(p));
    else if (n.endsWith('.pkt')) out.push(p);
  }
  return out;
}

for (const path of scripts(DIR)) {
  test(path.slice(DIR.length + 1), async (t) => {
    const r = await runScriptFile(path);
    t.is(r.failure, null);
    t.true(r.passed);
  });
}
