/*
 * The kernel's DHCP client against dnsmasq on Linux, in a network namespace
 * the test makes and removes (addresses only inside it):
 *
 *   network namespace rumpnet-test-<pid>-<n>
 *   ┌─────────────────────────────────────────────────────────────────────┐
 *   │ Linux                                     rump_server               │
 *   │ 10.199.0.1/24 on rtap0 ═══ TAP ════ virt0 (no address: asks DHCP)   │
 *   │ dnsmasq: DHCP 10.199.0.100-150, 2 min     rump.dhcpcd virt0         │
 *   │ leases, router and DNS 10.199.0.1,                                  │
 *   │ domain lab.example                                                  │
 *   └─────────────────────────────────────────────────────────────────────┘
 *
 * dnsmasq (package dnsmasq-base) is an independent DHCP server: it sees
 * the kernel's DISCOVER and REQUEST, leases it an address, and logs the
 * RELEASE sent by `rump.dhcpcd -k` and the one sent at halt.
 */
import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Netns, interopGate, linuxTap, ok } from './helpers.js';

const LINUX = '10.199.0.1';
const TAP = 'rtap0';
const LIBS = ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet', '-lrumpnet_virtif'];

const runnable = interopGate([['dnsmasq', 'dnsmasq-base']]);

function startDnsmasq(ns: Netns): ReturnType<Netns['start']> {
  return ns.start('dnsmasq', [
    '--keep-in-foreground', '--log-facility=-', '--log-dhcp', '--no-resolv', '--no-hosts', '--no-poll',
    `--interface=${TAP}`, '--bind-interfaces', '--except-interface=lo', '--port=0', '--user=root',
    `--pid-file=${join(ns.dir, 'dnsmasq.pid')}`, `--dhcp-leasefile=${join(ns.dir, 'leases')}`, '--dhcp-authoritative',
    '--dhcp-range=10.199.0.100,10.199.0.150,255.255.255.0,2m',
    `--dhcp-option=option:router,${LINUX}`, `--dhcp-option=option:dns-server,${LINUX}`, '--domain=lab.example',
  ], /DHCP, IP range/);
}

/**
 * rump_server in `ns` with virt0 on Linux's own TAP device (it outlives the
 * kernel: the release sent at halt must not go down with a device the
 * kernel made and removes), and dnsmasq serving that TAP.
 */
async function serverOnTap(t: ExecutionContext, ns: Netns): Promise<{ env: { RUMP_SERVER: string }; dnsmasq: Awaited<ReturnType<typeof startDnsmasq>> }> {
  const env = { RUMP_SERVER: `unix://${join(ns.dir, 's1')}` };
  ok(t, await ns.tool('rump_server', [...LIBS, env.RUMP_SERVER]), 'rump_server');
  await linuxTap(ns, TAP, `${LINUX}/24`);
  ok(t, await ns.tool('rump.ifconfig', ['virt0', 'create'], env), 'ifconfig virt0 create');
  ok(t, await ns.tool('rump.ifconfig', ['virt0', 'linkstr', TAP], env), 'ifconfig virt0 linkstr');
  return { env, dnsmasq: await startDnsmasq(ns) };
}

test.serial('rump.dhcpcd gets a lease from dnsmasq over a TAP: address, mask, default route, DNS; released by -k and at halt', async (t) => {
  if (!runnable(t)) return;
  t.timeout(100_000);
  const ns = await Netns.create();
  try {
    const { env, dnsmasq } = await serverOnTap(t, ns);

    const r = await ns.tool('rump.dhcpcd', ['virt0'], env);
    ok(t, r, `rump.dhcpcd virt0 (dnsmasq: ${dnsmasq.stderr})`);
    const m = /^virt0: offered (10\.199\.0\.1\d\d) from 10\.199\.0\.1\nvirt0: leased \1 for 120 seconds\nvirt0: renew in 60 seconds, rebind in 105 seconds\nvirt0: adding address \1\/24\nvirt0: adding default route via 10\.199\.0\.1\nvirt0: nameservers 10\.199\.0\.1, domain lab\.example\n$/.exec(r.stdout);
    t.truthy(m, r.stdout);
    const addr = m![1]!;
    const ifc = await ns.tool('rump.ifconfig', ['virt0'], env);
    t.regex(ifc.stdout, new RegExp(`inet ${addr.replaceAll('.', '\\.')}\\/24 broadcast 10\\.199\\.0\\.255 flags 0x0`));
    const routes = await ns.tool('rump.route', ['-n', 'show'], env);
    t.regex(routes.stdout, /default\s+10\.199\.0\.1\s+UG/);
    t.is((await ns.tool('rump.resolvconf', ['-l'], env)).stdout, `search lab.example\nnameserver ${LINUX}\n`);
    // dnsmasq leased it to virt0's hardware address, and Linux reaches the kernel there.
    const mac = /address: ([0-9a-f:]{17})/.exec(ifc.stdout)![1]!;
    t.regex(dnsmasq.stderr, new RegExp(`DHCPACK\\(rtap0\\) ${addr.replaceAll('.', '\\.')} ${mac}`));
    t.regex(readFileSync(join(ns.dir, 'leases'), 'utf8'), new RegExp(` ${mac} ${addr.replaceAll('.', '\\.')} `));
    ok(t, await ns.exec('ping', ['-c', '1', '-W', '5', addr]), `ping ${addr}`);

    // -k: DHCPRELEASE, and dnsmasq forgets the lease; the address is gone.
    ok(t, await ns.tool('rump.dhcpcd', ['-k', 'virt0'], env), 'rump.dhcpcd -k');
    const released = async (n: number): Promise<boolean> => {
      for (let i = 0; i < 50; i++) {
        if ((dnsmasq.stderr.match(/DHCPRELEASE\(rtap0\)/g) ?? []).length >= n) return true;
        await new Promise((res) => setTimeout(res, 100));
      }
      return false;
    };
    t.true(await released(1), dnsmasq.stderr);
    t.regex(dnsmasq.stderr, new RegExp(`DHCPRELEASE\\(rtap0\\) ${addr.replaceAll('.', '\\.')} ${mac}`));
    t.notRegex((await ns.tool('rump.ifconfig', ['virt0'], env)).stdout, /inet /);

    // Again, then halt: the kernel releases on its way down.
    ok(t, await ns.tool('rump.dhcpcd', ['virt0'], env), 'rump.dhcpcd again');
    ok(t, await ns.tool('rump.halt', [], env), 'rump.halt');
    t.true(await released(2), dnsmasq.stderr);
  } finally {
    await ns.destroy();
  }
});

test.serial('the kernel renews its dnsmasq lease at T1 (a unicast REQUEST from the leased address) and keeps the address', async (t) => {
  if (!runnable(t)) return;
  t.timeout(110_000);
  const ns = await Netns.create();
  try {
    const { env, dnsmasq } = await serverOnTap(t, ns);
    const r = await ns.tool('rump.dhcpcd', ['virt0'], env);
    ok(t, r, 'rump.dhcpcd virt0');
    const addr = /leased (\S+) for 120 seconds/.exec(r.stdout)![1]!;
    const esc = addr.replaceAll('.', '\\.');
    // DISCOVERs up to the lease: more than one when the first went before dnsmasq answered (§4.1 retransmits it).
    const discovers = (): number => (dnsmasq.stderr.match(/DHCPDISCOVER\(rtap0\)/g) ?? []).length;
    // dnsmasq's 2-minute lease: T1 at 60 s. The renewal is a second REQUEST/ACK for the same address.
    const acks = (): number => (dnsmasq.stderr.match(new RegExp(`DHCPACK\\(rtap0\\) ${esc} `, 'g')) ?? []).length;
    for (let i = 0; i < 10 && acks() < 1; i++) await new Promise((res) => setTimeout(res, 100)); // dnsmasq's log has the first ACK
    const discoversAtBind = discovers();
    for (let i = 0; i < 80 && acks() < 2; i++) await new Promise((res) => setTimeout(res, 1000));
    t.is(acks(), 2, dnsmasq.stderr);
    // A renewal is unicast from the client's address: dnsmasq logs the REQUEST without a new DISCOVER.
    t.is(discovers(), discoversAtBind, dnsmasq.stderr);
    const u = await ns.tool('rump.dhcpcd', ['-U', 'virt0'], env);
    t.regex(u.stdout, new RegExp(`state='bound'\nip_address='${esc}'`));
    t.regex((await ns.tool('rump.sysctl', ['net.inet.dhcp.stats.renewed'], env)).stdout, /= 1\n/);
    ok(t, await ns.tool('rump.halt', [], env), 'rump.halt');
  } finally {
    await ns.destroy();
  }
});
