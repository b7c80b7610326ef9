/*
 * Linux ↔ rumpnet over a TAP device, in a network namespace of the test's
 * own, configured with the tools as a user would:
 *
 *   network namespace rumpnet-test-<pid>-<n>
 *   ┌──────────────────────────────────────────────────────────────────────┐
 *   │ Linux stack: tun0 10.199.0.1/24 ══ TAP ══ virt0 10.199.0.2/24        │
 *   │   ping, ip neigh, tcpdump -i tun0        rump_server (unix://…/s1)   │
 *   └──────────────────────────────────────────────────────────────────────┘
 *     rump.ifconfig / rump.ping / rump.arp run from the test's namespace
 *     and reach rump_server through its unix socket.
 *
 * rump_server runs inside the namespace, so `ifconfig virt0 create` makes
 * tun0 there. Both sides resolve each other with ARP (a request and a reply
 * each way), ping each other, and the capture decodes cleanly in tshark.
 */
import test from 'ava';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { Netns, ROOT, TSX, interopGate, linkExists, linkState, linuxMac, ok, tsharkRows, type Run } from './helpers.js';

const require = createRequire(import.meta.url);
const LIBS = ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet', '-lrumpnet_virtif'];
const MAC = /[0-9a-f]{2}(?::[0-9a-f]{2}){5}/;

/** A ping that must succeed; when it does not, the state of both sides goes into the message. */
async function pinged(
  t: { is(a: unknown, b: unknown, m?: string): void },
  r: Run,
  what: string,
  state: () => Promise<string>,
): Promise<void> {
  t.is(r.status, 0, r.status === 0 ? what : `${what}: ${r.stderr}${r.stdout}\n${await state()}`);
}

const runnable = interopGate();

test('Linux and rumpnet over a TAP device: ARP both ways, ping both ways, a clean capture', async (t) => {
  if (!runnable(t)) return;
  t.timeout(90_000);
  const ns = await Netns.create();
  const env = { RUMP_SERVER: `unix://${join(ns.dir, 's1')}` };
  try {
    ok(t, await ns.tool('rump_server', [...LIBS, env.RUMP_SERVER]), 'rump_server');
    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'create'], env), 'create');
    t.true(await linkExists(ns, 'tun0'), 'virt0 create made the host TAP device tun0');

    await ns.must('ip', ['addr', 'add', '10.199.0.1/24', 'dev', 'tun0']);
    await ns.must('ip', ['link', 'set', 'tun0', 'up']);
    const linuxLl = await linuxMac(ns, 'tun0');
    const capture = join(ns.dir, 'tun0.pcap');
    const tcpdump = await ns.start('tcpdump', ['-i', 'tun0', '-n', '-U', '--immediate-mode', '-w', capture], /listening on tun0/);

    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'inet', '10.199.0.2/24'], env), 'inet');
    const ifc = await ns.tool('rump.ifconfig', ['virt0'], env);
    const m = /^virt0: flags=0x8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n\tcapabilities=0xccc80<TSO4,TCP4CSUM_Rx,TCP4CSUM_Tx,TCP6CSUM_Rx,TCP6CSUM_Tx,TSO6,LRO>\n\tenabled=0xccc80<TSO4,TCP4CSUM_Rx,TCP4CSUM_Tx,TCP6CSUM_Rx,TCP6CSUM_Tx,TSO6,LRO>\n\taddress: (b2:0a:[0-9a-f:]{11})\n\tlinkstr: tun0\n\tinet 10\.199\.0\.2\/24 broadcast 10\.199\.0\.255 flags 0x0\n$/.exec(ifc.stdout);
    t.truthy(m, ifc.stdout + ifc.stderr);
    const rumpLl = m?.[1] ?? '';
    // Offloads switched as NetBSD's ifconfig switches them; one virt0 lacks is EINVAL.
    ok(t, await ns.tool('rump.ifconfig', ['virt0', '-tso4', '-tso6', '-lro'], env), '-tso4 -tso6 -lro');
    t.regex((await ns.tool('rump.ifconfig', ['virt0'], env)).stdout, /\n\tenabled=0xcc00<TCP4CSUM_Rx,TCP4CSUM_Tx,TCP6CSUM_Rx,TCP6CSUM_Tx>\n/);
    const udp6 = await ns.tool('rump.ifconfig', ['virt0', 'udp6csum-tx'], env);
    t.is(udp6.status, 1);
    t.is(udp6.stderr, 'rump.ifconfig: SIOCSIFCAP: Invalid argument\n');
    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'tso4', 'tso6', 'lro'], env), 'tso4 tso6 lro');
    t.regex((await ns.tool('rump.ifconfig', ['virt0'], env)).stdout, /\n\tenabled=0xccc80<TSO4,TCP4CSUM_Rx,TCP4CSUM_Tx,TCP6CSUM_Rx,TCP6CSUM_Tx,TSO6,LRO>\n/);

    // rumpnet resolves Linux and pings it.
    const rping = await ns.tool('rump.ping', ['-c', '3', '-i', '0.2', '-w', '10', '-n', '10.199.0.1'], env);
    const state = () => linkState(ns, env, 'virt0', 'tun0');
    await pinged(t, rping, 'rump.ping', state);
    t.is(rping.stdout.match(/^64 bytes from 10\.199\.0\.1: icmp_seq=[012] ttl=64 time=/gm)?.length, 3, rping.stdout);
    t.regex(rping.stdout, /3 packets transmitted, 3 packets received, 0\.0% packet loss/);
    const rarp = await ns.tool('rump.arp', ['-an'], env);
    t.true(rarp.stdout.includes(`? (10.199.0.1) at ${linuxLl} on virt0`), rarp.stdout);

    // Forget each other, then Linux resolves rumpnet and pings it.
    ok(t, await ns.tool('rump.arp', ['-d', '10.199.0.1'], env), 'rump.arp -d');
    await ns.must('ip', ['neigh', 'flush', 'dev', 'tun0']);
    const lping = await ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '5', '-n', '10.199.0.2']);
    await pinged(t, lping, 'ping', state);
    t.is(lping.stdout.match(/^64 bytes from 10\.199\.0\.2: icmp_seq=[123] ttl=255 time=/gm)?.length, 3, lping.stdout);
    t.regex(lping.stdout, /3 packets transmitted, 3 received, 0% packet loss/);
    const neigh = await ns.must('ip', ['neigh', 'show', 'dev', 'tun0']);
    t.regex(neigh, new RegExp(`^10\\.199\\.0\\.2 lladdr ${rumpLl} (REACHABLE|STALE|DELAY)`, 'm'));
    const rarp2 = await ns.tool('rump.arp', ['-an'], env);
    t.true(rarp2.stdout.includes(`? (10.199.0.1) at ${linuxLl} on virt0`), 'learned again from Linux’s request');

    t.is(await tcpdump.stop(), 0, tcpdump.stderr);

    // The session as tshark and pcap-parser decode it.
    const rows = await tsharkRows(capture);
    const protocols = rows.map((r) => r.protocols);
    t.true(rows.length >= 14, protocols.join(','));
    t.true(protocols.every((p) => p === 'eth:ethertype:arp' || p === 'eth:ethertype:ip:icmp:data'), protocols.join(','));
    const ipRows = rows.filter((r) => r.protocols.includes(':ip:'));
    t.is(ipRows.length, 12);
    // tshark's checksum status: 1 good, 0 bad, 2 not verified.
    t.true(ipRows.every((r) => r.ipChecksum === '1' && r.icmpChecksum === '1'), JSON.stringify(ipRows));
    t.true(rows.every((r) => r.expert === ''), `no expert warning: ${JSON.stringify(rows.map((r) => r.expert))}`);
    t.true(rows.every((r) => r.malformed === ''), 'no malformed packet');
    const frames = await readPcap(capture);
    t.is(frames.length, rows.length);
    const arp = frames.filter((f) => f.readUInt16BE(12) === 0x0806);
    // ARP op 1 (request) or 2 (reply) by sender MAC, about target address `tpa` (last octet).
    const arps = (sha: string, op: number, tpa: number) =>
      arp.filter((f) => macOf(f, 22) === sha && f.readUInt16BE(20) === op && f.readUInt32BE(38) === (0x0ac70000 | tpa)).length;
    t.true(arps(rumpLl, 1, 1) >= 1, 'rumpnet asked: who-has 10.199.0.1');
    t.true(arps(linuxLl, 2, 2) >= 1, 'Linux answered it: 10.199.0.1 is-at');
    t.true(arps(linuxLl, 1, 2) >= 1, 'Linux asked: who-has 10.199.0.2');
    t.true(arps(rumpLl, 2, 1) >= 1, 'rumpnet answered it: 10.199.0.2 is-at');
    t.true(arps(rumpLl, 1, 2) >= 1, 'rumpnet announced itself (gratuitous ARP)');
    const echo = frames.filter((f) => f.readUInt16BE(12) === 0x0800 && f[23] === 1);
    t.is(echo.length, 12, 'three echo pairs each way');
    t.true(frames.every((f) => macOf(f, 6) === rumpLl || macOf(f, 6) === linuxLl), 'only the two of them on the wire');

    // Destroying virt0 removes the TAP device the kernel created.
    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'destroy'], env), 'destroy');
    t.false(await linkExists(ns, 'tun0'), 'tun0 is gone with virt0');
    t.regex(rumpLl, MAC);
    ok(t, await ns.tool('rump.halt', [], env), 'rump.halt');
  } finally {
    await ns.destroy();
  }
});

test('linkstr names a TAP device that existed before: it is used, and left in place at destroy', async (t) => {
  if (!runnable(t)) return;
  t.timeout(90_000);
  const ns = await Netns.create();
  const env = { RUMP_SERVER: `unix://${join(ns.dir, 's1')}` };
  try {
    await ns.must('ip', ['tuntap', 'add', 'dev', 'rumptap0', 'mode', 'tap']);
    await ns.must('ip', ['addr', 'add', '10.199.0.1/24', 'dev', 'rumptap0']);
    await ns.must('ip', ['link', 'set', 'rumptap0', 'up']);
    ok(t, await ns.tool('rump_server', [...LIBS, env.RUMP_SERVER]), 'rump_server');
    // create (opens tun0), linkstr before up (tun0 goes, rumptap0 is used), then the address.
    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'create'], env), 'create');
    t.true(await linkExists(ns, 'tun0'));
    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'linkstr', 'rumptap0'], env), 'linkstr');
    t.false(await linkExists(ns, 'tun0'), 'the default device the kernel created is gone');
    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'inet', '10.199.0.2/24'], env), 'inet');
    const busy = await ns.tool('rump.ifconfig', ['virt0', 'linkstr', 'other0'], env);
    t.is(busy.status, 1);
    t.is(busy.stderr, 'rump.ifconfig: SIOCSLINKSTR: Device busy\n');

    const state = () => linkState(ns, env, 'virt0', 'rumptap0');
    const lping = await ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '5', '-n', '10.199.0.2']);
    await pinged(t, lping, 'ping', state);
    t.regex(lping.stdout, /2 packets transmitted, 2 received, 0% packet loss/);
    const rping = await ns.tool('rump.ping', ['-c', '2', '-i', '0.2', '-w', '10', '-n', '10.199.0.1'], env);
    await pinged(t, rping, 'rump.ping', state);

    // Busy on the host too: a second kernel cannot take the same device.
    const env2 = { RUMP_SERVER: `unix://${join(ns.dir, 's2')}` };
    ok(t, await ns.tool('rump_server', [...LIBS, env2.RUMP_SERVER]), 'rump_server 2');
    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'create'], env2), 'create on s2');
    const taken = await ns.tool('rump.ifconfig', ['virt0', 'linkstr', 'rumptap0'], env2);
    t.is(taken.status, 1);
    t.is(taken.stderr, 'rump.ifconfig: SIOCSLINKSTR: Device busy\n');
    ok(t, await ns.tool('rump.halt', [], env2), 'rump.halt s2');

    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'down'], env), 'down');
    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'destroy'], env), 'destroy');
    t.true(await linkExists(ns, 'rumptap0'), 'a device that existed before stays');
    ok(t, await ns.tool('rump.halt', [], env), 'rump.halt');
  } finally {
    await ns.destroy();
  }
});

test('without privilege (as nobody): create fails with EPERM saying what is needed, and the kernel still pings lo0', async (t) => {
  if (!runnable(t)) return;
  t.timeout(60_000);
  const ns = await Netns.create();
  try {
    // Dropped to nobody inside the namespace: were the check ever to let it
    // through, the TAP would still be made in here and nowhere else.
    const r = await ns.exec('setpriv', [
      '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all',
      process.execPath, `--import=${TSX}`, join(ROOT, 'test/interop/scripts/unprivileged.ts'),
    ], undefined, '/');
    t.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    t.not(out['uid'], 0);
    t.is(out['code'], 'EPERM');
    t.is(out['errno'], 1);
    t.is(out['message'], 'virt0: creating TAP device tun0 needs CAP_NET_ADMIN (run as root or grant the capability)');
    t.deepEqual(out['interfaces'], ['lo0'], 'no half-made virt0');
    t.is(out['pingStatus'], 0);
    t.regex(String(out['pingOutput']), /2 packets transmitted, 2 packets received, 0\.0% packet loss/);
    t.regex(r.stderr, /virt0: creating TAP device tun0 needs CAP_NET_ADMIN/, 'the kernel says so on its console');
    t.false(await linkExists(ns, 'tun0'));
  } finally {
    await ns.destroy();
  }
});

function macOf(f: Buffer, at: number): string {
  return [...f.subarray(at, at + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

async function readPcap(path: string): Promise<Buffer[]> {
  const pcapParser = require('pcap-parser') as { parse(input: string): NodeJS.EventEmitter };
  const frames: Buffer[] = [];
  await new Promise<void>((done, fail) => {
    const p = pcapParser.parse(path);
    p.on('packet', (pkt: { data: Buffer }) => frames.push(pkt.data));
    p.on('end', () => done());
    p.on('error', fail);
  });
  return frames;
}

test('clear TAP errors through rump.ifconfig: a TUN of that name, a busy TAP, no /dev/net/tun', async (t) => {
  if (!runnable(t)) return;
  t.timeout(110_000);
  const ns = await Netns.create();
  const s1 = { RUMP_SERVER: `unix://${join(ns.dir, 's1')}` };
  const s2 = { RUMP_SERVER: `unix://${join(ns.dir, 's2')}` };
  const s3 = { RUMP_SERVER: `unix://${join(ns.dir, 's3')}` };
  try {
    ok(t, await ns.tool('rump_server', [...LIBS, s1.RUMP_SERVER]), 'rump_server s1');

    // A VPN's tun0 (layer 3): the TAP cannot be it.
    await ns.must('ip', ['tuntap', 'add', 'dev', 'tun0', 'mode', 'tun']);
    const tun = await ns.tool('rump.ifconfig', ['virt0', 'create'], s1);
    t.is(tun.status, 1);
    t.is(
      tun.stderr,
      'rump.ifconfig: clone_command: Invalid argument\n' +
        'rump.ifconfig: virt0: host interface tun0 is a TUN (layer 3) device, not a TAP: pick another name (ifconfig virt0 linkstr NAME, or another unit) or remove it (ip link del tun0)\n' +
        'rump.ifconfig: exec_matches: Invalid argument\n',
    );
    t.true(await linkExists(ns, 'tun0'), 'the TUN is left alone');

    // Another kernel has tun1 open.
    ok(t, await ns.tool('rump_server', [...LIBS, s2.RUMP_SERVER]), 'rump_server s2');
    ok(t, await ns.tool('rump.ifconfig', ['virt1', 'create'], s2), 's2 virt1 create');
    const busy = await ns.tool('rump.ifconfig', ['virt1', 'create'], s1);
    t.is(busy.status, 1);
    t.is(
      busy.stderr,
      'rump.ifconfig: clone_command: Device busy\n' +
        'rump.ifconfig: virt1: TAP device tun1 is in use by another process (stop it, or pick another device: ifconfig virt1 linkstr NAME)\n' +
        'rump.ifconfig: exec_matches: Device busy\n',
    );

    // A host without /dev/net/tun (a container without the device): the
    // server runs in a mount namespace of its own where /dev/net is empty.
    const hidden = await ns.exec('unshare', [
      '-m', '--propagation', 'private', 'sh', '-c',
      `mount -t tmpfs none /dev/net && exec timeout 40 ${process.execPath} --import=${TSX} ${join(ROOT, 'bin/rump_server.ts')} ${LIBS.join(' ')} ${s3.RUMP_SERVER}`,
    ]);
    t.is(hidden.status, 0, hidden.stderr);
    const none = await ns.tool('rump.ifconfig', ['virt0', 'create'], s3);
    t.is(none.status, 1);
    t.is(
      none.stderr,
      'rump.ifconfig: clone_command: Device not configured\n' +
        'rump.ifconfig: virt0: the host has no /dev/net/tun (load the tun module: modprobe tun; in a container, give it the device /dev/net/tun)\n' +
        'rump.ifconfig: exec_matches: Device not configured\n',
    );
    for (const env of [s1, s2, s3]) ok(t, await ns.tool('rump.halt', [], env), 'rump.halt');
  } finally {
    await ns.destroy();
  }
});
