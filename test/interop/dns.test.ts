/*
 * kernel.dns against a real name server: dnsmasq on Linux, in a network
 * namespace the test makes and removes (addresses only inside it):
 *
 *   network namespace rumpnet-test-<pid>-<n>
 *   ┌──────────────────────────────────────────────────────────────────────┐
 *   │ Linux                                    rump kernel                 │
 *   │ 10.199.0.1/24 on rtap0 ════════════════ virt0 10.199.0.2/24          │
 *   │ dnsmasq on 10.199.0.1:53 (UDP, TCP),     scripts/dns-peer.ts:        │
 *   │ authoritative for lab.example only,      kernel.dns with nameserver   │
 *   │ no upstream, no /etc/hosts               10.199.0.1, search lab.example│
 *   └──────────────────────────────────────────────────────────────────────┘
 *
 * The second test is the same name server seen by an unmodified program:
 * `rump_server -R resolv.conf` (nameserver 10.199.0.1) with virt0 on the
 * TAP, and a program run with `--import hijack.ts` that fetches
 * http://www.lab.example:8000/ (fetch and http.get) from python3's
 * http.server on Linux: the name is known only to dnsmasq, asked by the
 * rump kernel from 10.199.0.2; the host's own name does not resolve.
 *
 * dnsmasq (Debian package dnsmasq-base: the binary, no system service) is an independent implementation of the wire format: A, AAAA,
 * CNAME, MX, TXT, SRV, PTR, NXDOMAIN, and a 40-address answer that does not
 * fit 512 bytes, so it answers UDP truncated and the kernel asks over TCP.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { mkdirSync } from 'node:fs';
import { Netns, ROOT, TSX, interopGate, linuxTap, ok, rumpOnTun } from './helpers.js';

const TAP = 'rtap0';
const LINUX = '10.199.0.1';
const RUMP = '10.199.0.2';

const runnable = interopGate([['dnsmasq', 'dnsmasq-base'], ['python3', 'python3']]);
const LIBS = ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet', '-lrumpnet_virtif'];
const HIJACK = join(ROOT, 'hijack.ts');

/** dnsmasq on Linux's address, authoritative for lab.example only, logging queries to stderr. */
function startDnsmasq(ns: Netns, records: string[]): ReturnType<Netns['start']> {
  return ns.start('dnsmasq', [
    '--keep-in-foreground', '--log-facility=-', '--log-queries', '--no-resolv', '--no-hosts', '--no-poll',
    `--listen-address=${LINUX}`, '--bind-interfaces', '--except-interface=lo', '--port=53', '--user=root', `--pid-file=${join(ns.dir, 'dnsmasq.pid')}`,
    '--local=/lab.example/', '--local=/199.10.in-addr.arpa/', ...records,
  ], /started, version/);
}

test.serial('kernel.dns resolves against dnsmasq on a Linux peer over TAP (UDP, TC → TCP, every record type)', async (t) => {
  if (!runnable(t)) return;
  t.timeout(90_000);
  const ns = await Netns.create();
  try {
    await linuxTap(ns, TAP, `${LINUX}/24`);
    const big = join(ns.dir, 'big.hosts');
    writeFileSync(big, Array.from({ length: 40 }, (_, i) => `198.51.100.${i + 1} big.lab.example\n`).join(''));
    const dnsmasq = await startDnsmasq(ns, [
      '--host-record=www.lab.example,10.199.0.80', '--host-record=dual.lab.example,10.199.0.81,2001:db8::81',
      '--cname=alias.lab.example,www.lab.example', '--mx-host=lab.example,mail.lab.example,10',
      '--txt-record=txt.lab.example,v=spf1 -all,second', '--srv-host=_http._tcp.lab.example,www.lab.example,8080,1,5',
      `--addn-hosts=${big}`,
    ]);
    const r = await ns.node('test/interop/scripts/dns-peer.ts', [TAP, `${RUMP}/24`, LINUX], {}, 60);
    // dnsmasq's log (stderr, read live) has every query by now; ns.destroy() stops it.
    t.is(r.status, 0, `dns-peer: ${r.stderr}${r.stdout}\ndnsmasq: ${dnsmasq.stderr}`);
    const got = JSON.parse(r.stdout) as Record<string, unknown>;
    t.deepEqual(got, {
      lookup: { address: '10.199.0.80', family: 4 },
      lookupSearch: { address: '10.199.0.80', family: 4 },
      lookupAll: [{ address: '10.199.0.81', family: 4 }, { address: '2001:db8::81', family: 6 }],
      pinned: { address: '10.199.0.77', family: 4 },
      resolve4: ['10.199.0.80'],
      resolve6: ['2001:db8::81'],
      cname: ['www.lab.example'],
      viaCname: ['10.199.0.80'],
      mx: [{ priority: 10, exchange: 'mail.lab.example' }],
      txt: [['v=spf1 -all', 'second']],
      srv: [{ priority: 1, weight: 5, port: 8080, name: 'www.lab.example' }],
      ptr: ['www.lab.example'],
      big: 40,
      nxdomain: 'error ENOTFOUND',
      lookupNx: 'error ENOTFOUND',
    }, dnsmasq.stderr);
    // dnsmasq saw the kernel's queries come from the kernel's address, and pinned.lab.example never.
    t.regex(dnsmasq.stderr, new RegExp(`query\\[A\\] www\\.lab\\.example from ${RUMP.replace(/\./g, '\\.')}`));
    t.notRegex(dnsmasq.stderr, /pinned/);
  } finally {
    await ns.destroy();
  }
});

test.serial('an unmodified program under the hijack fetches http://www.lab.example from Linux: rump_server -R points its kernel at dnsmasq', async (t) => {
  if (!runnable(t)) return;
  t.timeout(90_000);
  const ns = await Netns.create();
  try {
    writeFileSync(join(ns.dir, 'resolv.conf'), `nameserver ${LINUX}\nsearch lab.example\noptions timeout:2\n`);
    const env = await rumpOnTun(t, ns, [...LIBS, '-R', join(ns.dir, 'resolv.conf')], { linux: `${LINUX}/24`, rump: `${RUMP}/24` });
    const shown = await ns.tool('rump.resolvconf', ['-l'], env);
    t.is(shown.stdout, `search lab.example\nnameserver ${LINUX}\noptions timeout:2\n`);

    const dnsmasq = await startDnsmasq(ns, [`--host-record=www.lab.example,${LINUX}`]);
    const www = join(ns.dir, 'www');
    mkdirSync(www);
    writeFileSync(join(www, 'hello.txt'), 'hello from Linux, found by name');
    const py = ns.spawnLines('timeout', ['60', 'python3', '-u', '-m', 'http.server', '8000', '--bind', LINUX, '--directory', www]);
    await py.next(new RegExp(`^Serving HTTP on ${LINUX.replaceAll('.', '\\.')} port 8000 `));

    const app = await ns.exec('timeout', ['60', process.execPath, `--import=${TSX}`, `--import=${HIJACK}`, join(ROOT, 'test/interop/scripts/dns-app.mjs')], {
      ...env, URL: 'http://www.lab.example:8000/hello.txt',
    });
    ok(t, app, 'the hijacked program');
    t.is(app.stdout, [
      `lookup: {"address":"${LINUX}","family":4}`,
      'fetch: hello from Linux, found by name',
      'http.get: hello from Linux, found by name',
      "host's own name: not resolved",
      '',
    ].join('\n'), dnsmasq.stderr);
    // The queries came from the rump kernel's address, over the TAP.
    t.regex(dnsmasq.stderr, new RegExp(`query\\[A\\] www\\.lab\\.example from ${RUMP.replaceAll('.', '\\.')}`));
    ok(t, await ns.tool('rump.halt', [], env), 'rump.halt');
  } finally {
    await ns.destroy();
  }
});
