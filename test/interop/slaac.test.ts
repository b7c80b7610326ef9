/*
 * Router solicitation and SLAAC against dnsmasq's router advertisements
 * (`--enable-ra`), in a network namespace the test makes and removes:
 *
 *   network namespace rumpnet-test-<pid>-<n> (IPv6 on inside it)
 *   ┌──────────────────────────────────────────────────────────────────────┐
 *   │ Linux fd00:199::1/64 on rtap0 ═══ TAP ═══ virt0 (accept_rtadv=1)     │
 *   │ dnsmasq --enable-ra: prefix fd00:199::/64, MTU 1400                  │
 *   └──────────────────────────────────────────────────────────────────────┘
 *
 * virt0 comes up, solicits, and takes from dnsmasq's advertisement an
 * autoconf address (the prefix and the EUI-64 of its MAC) and a default
 * route via Linux's link-local address; Linux and the kernel ping each
 * other over it.
 */
import test from 'ava';
import { join } from 'node:path';
import { Netns, interopGate, linuxTap, ok } from './helpers.js';

const TAP = 'rtap0';
const LIBS = ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet', '-lrumpnet_netinet6', '-lrumpnet_virtif'];

const runnable = interopGate([['dnsmasq', 'dnsmasq-base']]);

/** fd00:199:: and the modified EUI-64 of `mac` (RFC 4291 appendix A), as rump.ifconfig prints it. */
function slaacAddr(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const w = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
  return `fd00:199::${w(b[0]! ^ 2, b[1]!)}:${w(b[2]!, 0xff)}:${w(0xfe, b[3]!)}:${w(b[4]!, b[5]!)}`;
}

test('virt0 solicits and autoconfigures from dnsmasq --enable-ra: address, default route via Linux, ping -6 both ways', async (t) => {
  if (!runnable(t)) return;
  t.timeout(100_000);
  const ns = await Netns.create();
  try {
    await ns.must('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']);
    const env = { RUMP_SERVER: `unix://${join(ns.dir, 's1')}` };
    ok(t, await ns.tool('rump_server', [...LIBS, env.RUMP_SERVER]), 'rump_server');
    await linuxTap(ns, TAP, '10.199.0.1/24');
    await ns.must('ip', ['-6', 'addr', 'add', 'fd00:199::1/64', 'dev', TAP, 'nodad']);
    const dnsmasq = await ns.start('dnsmasq', [
      '--keep-in-foreground', '--log-facility=-', '--no-resolv', '--no-hosts', '--no-poll', `--interface=${TAP}`, '--bind-interfaces',
      '--except-interface=lo', '--port=0', '--user=root', `--pid-file=${join(ns.dir, 'dnsmasq.pid')}`,
      '--enable-ra', '--dhcp-range=fd00:199::,ra-only,64,10m', `--ra-param=${TAP},mtu:1400,60,1800`,
    ], /started, version/);

    ok(t, await ns.tool('rump.sysctl', ['-w', 'net.inet6.ip6.accept_rtadv=1'], env), 'sysctl accept_rtadv=1');
    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'create'], env), 'ifconfig virt0 create');
    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'linkstr', TAP], env), 'ifconfig virt0 linkstr');
    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'up'], env), 'ifconfig virt0 up');
    const mac = /address: ([0-9a-f:]{17})/.exec((await ns.tool('rump.ifconfig', ['virt0'], env)).stdout)![1]!;
    const want = slaacAddr(mac);

    // The solicitation draws an advertisement; DAD then makes the address usable.
    let ifc = '';
    for (const until = Date.now() + 20_000; Date.now() < until;) {
      ifc = (await ns.tool('rump.ifconfig', ['virt0'], env)).stdout;
      if (new RegExp(`inet6 ${want}/64 flags 0x40<AUTOCONF>\\n`).test(ifc)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    // NetBSD 8's address line (rump.ifconfig prints its format): the autoconf flag, 0x40.
    t.regex(ifc, new RegExp(`\\tinet6 ${want}/64 flags 0x40<AUTOCONF>\\n`), `${ifc}\n--- dnsmasq\n${dnsmasq.stderr}`);
    t.regex(dnsmasq.stderr, /RTR-SOLICIT\(rtap0\)|RTR-ADVERT\(rtap0\)/, dnsmasq.stderr);

    // The default route via Linux's link-local address on rtap0.
    const linuxLl = (await ns.must('ip', ['-6', '-o', 'addr', 'show', 'dev', TAP, 'scope', 'link'])).match(/inet6 (fe80::[0-9a-f:]+)\//)![1]!;
    const routes = (await ns.tool('rump.netstat', ['-rn', '-f', 'inet6'], env)).stdout;
    t.regex(routes, new RegExp(`^default\\s+${linuxLl}%virt0\\s+UG|^default\\s+${linuxLl}\\s+UG`, 'm'), routes);

    ok(t, await ns.exec('ping', ['-6', '-c', '1', '-W', '5', want]), `Linux pings ${want}`);
    ok(t, await ns.tool('rump.ping6', ['-n', '-c', '1', '-X', '5', 'fd00:199::1'], env), 'rump.ping6 fd00:199::1');
  } finally {
    await ns.destroy();
  }
});
