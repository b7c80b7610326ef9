/*
 * IPv6 between Linux and a rump kernel over a TAP device, in a network
 * namespace of the test's own (IPv6 turned back on inside it):
 *
 *   network namespace rumpnet-test-<pid>-<n>
 *   ┌──────────────────────────────────────────────────────────────────────────┐
 *   │ Linux: tun0 10.199.0.1/24 fd00:199::1/64 ══ TAP ══ virt0 10.199.0.2/24   │
 *   │   ping -6, curl -4, curl -6                          fd00:199::2/64      │
 *   │                                 rump_server -lrumpnet_netinet6 + an      │
 *   │                                 unmodified http server under the hijack  │
 *   └──────────────────────────────────────────────────────────────────────────┘
 *
 * rump.ping6 pings Linux and Linux's ping -6 pings the kernel (neighbor
 * discovery both ways); the program's listen() without a host is :: in the
 * kernel, dual-stack: curl over IPv4 is seen as ::ffff:10.199.0.1, curl over
 * IPv6 as fd00:199::1, by the same server.
 */
import test from 'ava';
import { join } from 'node:path';

import { Netns, ROOT, TSX, interopGate, ok, rumpOnTun } from './helpers.js';

const LIBS = ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet', '-lrumpnet_netinet6', '-lrumpnet_virtif'];
const HIJACK = join(ROOT, 'hijack.ts');
const APP = join(ROOT, 'test/interop/scripts/http-app.mjs');

const runnable = interopGate([['curl', 'curl']]);

test.serial('IPv6 over TAP: rump.ping6 and ping -6 both ways; curl -4 and curl -6 reach one dual-stack server under the hijack', async (t) => {
  if (!runnable(t)) return;
  t.timeout(120_000);
  const ns = await Netns.create();
  try {
    await ns.must('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']);
    const env = await rumpOnTun(t, ns, LIBS, { linux: '10.199.0.1/24', rump: '10.199.0.2/24', linux6: 'fd00:199::1/64', rump6: 'fd00:199::2/64' });

    const rping = await ns.tool('rump.ping6', ['-c', '3', '-i', '0.2', '-X', '10', '-n', 'fd00:199::1'], env);
    ok(t, rping, 'rump.ping6');
    t.true(rping.stdout.startsWith('PING6(56=40+8+8 bytes) fd00:199::2 --> fd00:199::1\n'), rping.stdout);
    t.is(rping.stdout.match(/^16 bytes from fd00:199::1, icmp_seq=[012] hlim=64 time=\d+\.\d{3} ms$/gm)?.length, 3, rping.stdout);
    t.regex(rping.stdout, /\n--- fd00:199::1 ping6 statistics ---\n3 packets transmitted, 3 packets received, 0\.0% packet loss\n/);

    const lping = await ns.exec('ping', ['-6', '-c', '3', '-i', '0.2', '-W', '5', '-n', 'fd00:199::2']);
    ok(t, lping, 'ping -6');
    t.is(lping.stdout.match(/^64 bytes from fd00:199::2: icmp_seq=[123] ttl=64 time=/gm)?.length, 3, lping.stdout);
    const ndp = await ns.tool('rump.ndp', ['-an'], env);
    t.regex(ndp.stdout, /^fd00:199::1\s/m, ndp.stdout);

    // An unmodified server, listen(port) without a host, under the hijack.
    const app = ns.spawnLines('timeout', ['60', process.execPath, `--import=${TSX}`, `--import=${HIJACK}`, APP], { ...env, PORT: '8080' });
    t.is(await app.next(/^listening /), 'listening {"address":"::","family":"IPv6","port":8080}');
    const v4 = await ns.exec('timeout', ['30', 'curl', '-4', '-sS', 'http://10.199.0.2:8080/v4']);
    ok(t, v4, 'curl -4');
    t.is(v4.stdout, 'hello /v4 from ::ffff:10.199.0.1\n');
    const v6 = await ns.exec('timeout', ['30', 'curl', '-6', '-sS', 'http://[fd00:199::2]:8080/v6']);
    ok(t, v6, 'curl -6');
    t.is(v6.stdout, 'hello /v6 from fd00:199::1\n');
    const quit = await ns.exec('timeout', ['30', 'curl', '-sS', 'http://[fd00:199::2]:8080/quit']);
    ok(t, quit, 'curl /quit');
    t.is(await app.exited, 0, `the program exits once its server closed: ${app.stderr}`);
    ok(t, await ns.tool('rump.halt', [], env), 'rump.halt');
  } finally {
    await ns.destroy();
  }
});
