/*
 * UDP between Linux and rumpnet over a TAP device: multicast both ways and
 * 65,507-byte datagrams both ways, in a network namespace the test makes
 * and removes (addresses in 10.199.0.0/24 inside it; no frame leaves it):
 *
 *   network namespace rumpnet-test-<pid>-<n>
 *   ┌───────────────────────────────────────────────────────────────────┐
 *   │ Linux stack                            rump kernel                │
 *   │ 10.199.0.1/24 on rtap0 ════════════ virt0 10.199.0.2/24           │
 *   │  python3 sockets, tcpdump -i rtap0     scripts/udp-peer.ts        │
 *   │                                        (kernel.dgram)             │
 *   └───────────────────────────────────────────────────────────────────┘
 *
 *   1. A Linux socket joins 239.1.2.3 and receives a kernel.dgram multicast
 *      datagram; kernel.dgram joins and receives Linux's; after
 *      dropMembership, Linux's next datagram is filtered out by virt0.
 *      The capture, decoded by tshark, shows the rump kernel's IGMPv2
 *      report and leave.
 *   2. 65,507 bytes each way, fragmented by one stack and reassembled by
 *      the other, compared by sha256.
 *   3. The same over IPv6 (this namespace turns IPv6 on for it; Linux at
 *      2001:db8::1, virt0 at 2001:db8::2): a group joined on each side
 *      hears the other's datagram, and 65,527 bytes go each way in IPv6
 *      fragments. Linux's Neighbor Discovery reaches the kernel through
 *      virt0's filter (the solicited-node group is joined), and the
 *      capture shows the kernel's MLD report.
 */
import test from 'ava';
import { join } from 'node:path';

import { Netns, interopGate, linuxTap as tap, pattern, run, type LineChild } from './helpers.js';

const PEER = 'test/interop/scripts/udp-peer.ts';
const TAP = 'rtap0';
const LINUX = '10.199.0.1';
const RUMP = '10.199.0.2';
const GROUP = '239.1.2.3';

const runnable = interopGate([['python3', 'python3']]);

/* Linux's end: python3 sockets, one JSON line per event (a ':' in the group, or group '-6': IPv6). */
const PY_RECV = `
import socket, sys, json, hashlib, struct
group, port, iface, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
v6 = ':' in group or group == '-6'
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind(('', port))
if v6 and group != '-6':
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, socket.inet_pton(socket.AF_INET6, group) + struct.pack('@I', socket.if_nametoindex(iface)))
elif group not in ('-', '-6'):
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(iface))
print(json.dumps({'event': 'listening'}), flush=True)
s.settimeout(30)
for i in range(count):
    data, addr = s.recvfrom(65535)
    print(json.dumps({'event': 'message', 'bytes': len(data), 'sha256': hashlib.sha256(data).hexdigest(),
                      'text': data.decode() if len(data) <= 64 else None, 'from': addr[0]}), flush=True)
`;

const PY_SEND = `
import socket, sys, json, hashlib
host, port, iface, n, text = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
words = bytearray()
for i in range((n + 3) // 4):
    words += ((i * 0x9E3779B1) & 0xffffffff).to_bytes(4, 'little')
data = bytes(words[:n]) if n > 0 else text.encode()
if ':' in host:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(iface))
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
s.sendto(data, (host, port))
print(json.dumps({'event': 'sent', 'bytes': len(data), 'sha256': hashlib.sha256(data).hexdigest()}), flush=True)
`;

function linuxTap(ns: Netns): Promise<void> {
  return tap(ns, TAP, `${LINUX}/24`);
}

async function next(c: LineChild, re: RegExp): Promise<Record<string, unknown>> {
  return JSON.parse(await c.next(re)) as Record<string, unknown>;
}

async function pySend(ns: Netns, host: string, port: number, opts: { bytes?: number; text?: string }): Promise<Record<string, unknown>> {
  const iface = host.includes(':') ? TAP : LINUX;
  const r = await ns.exec('timeout', ['30', 'python3', '-c', PY_SEND, host, String(port), iface, String(opts.bytes ?? 0), opts.text ?? '']);
  if (r.status !== 0) throw new Error(`python3 send: exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim()) as Record<string, unknown>;
}

test.serial('multicast between Linux and kernel.dgram over TAP, both ways; IGMPv2 join and leave seen by tshark; the filter drops a left group', async (t) => {
  if (!runnable(t)) return;
  t.timeout(90_000);
  const ns = await Netns.create();
  try {
    await linuxTap(ns);
    const cap = await ns.start('tcpdump', ['-i', TAP, '--immediate-mode', '-U', '-w', join(ns.dir, 'mc.pcap'), 'igmp or udp'], /listening on/);
    const peer = ns.nodeLines(PEER, [TAP, `${RUMP}/24`]);
    await peer.next(/"ready"/);

    // Linux joins, kernel.dgram sends to the group.
    const lin = ns.spawnLines('timeout', ['40', 'python3', '-c', PY_RECV, GROUP, '5000', LINUX, '1']);
    await lin.next(/listening/);
    peer.send(JSON.stringify({ op: 'send', host: GROUP, port: 5000, text: 'from rump to the group' }));
    await peer.next(/"sent"/);
    t.like(await next(lin, /message/), { text: 'from rump to the group', from: RUMP });

    // kernel.dgram joins, Linux sends to the group.
    peer.send(JSON.stringify({ op: 'listen', port: 5001, group: GROUP }));
    await peer.next(/"listening"/);
    await pySend(ns, GROUP, 5001, { text: 'from linux to the group' });
    t.like(await next(peer, /"message"/), { text: 'from linux to the group', from: LINUX });

    // After leaving, Linux's next datagram to the group is filtered by virt0.
    peer.send(JSON.stringify({ op: 'stats' }));
    const before = await next(peer, /"stats"/);
    peer.send(JSON.stringify({ op: 'leave', group: GROUP }));
    await peer.next(/"left"/);
    await pySend(ns, GROUP, 5001, { text: 'nobody hears this' });
    // A unicast datagram after it, to the same socket: when it arrives, the multicast one has been through virt0.
    await pySend(ns, RUMP, 5001, { text: 'unicast after' });
    t.like(await next(peer, /"message"/), { text: 'unicast after', from: LINUX }, 'the group datagram was not delivered');
    peer.send(JSON.stringify({ op: 'stats' }));
    const after = await next(peer, /"stats"/);
    const vb = before.virt as Record<string, number>;
    const va = after.virt as Record<string, number>;
    t.true(va.rxmcastfiltered! > vb.rxmcastfiltered!, 'virt0 filtered the group it left');
    peer.end();
    await peer.exited;
    await cap.stop();

    const fields = await run('tshark', ['-r', join(ns.dir, 'mc.pcap'), '-Y', `igmp && ip.src == ${RUMP}`, '-T', 'fields', '-E', 'separator=,',
      '-e', 'ip.dst', '-e', 'ip.ttl', '-e', 'igmp.version', '-e', 'igmp.type', '-e', 'igmp.maddr']);
    t.is(fields.status, 0, fields.stderr);
    const rows = fields.stdout.trim().split('\n');
    t.true(rows.includes(`${GROUP},1,2,0x16,${GROUP}`), rows.join('\n'));
    t.true(rows.includes(`224.0.0.2,1,2,0x17,${GROUP}`), rows.join('\n'));
    const udp = await run('tshark', ['-r', join(ns.dir, 'mc.pcap'), '-Y', `udp && ip.src == ${RUMP} && ip.dst == ${GROUP}`, '-T', 'fields', '-e', 'ip.ttl', '-e', 'eth.dst']);
    t.is(udp.stdout.trim(), '1\t01:00:5e:01:02:03', 'TTL 1 and the group MAC (RFC 1112 §6.4)');
  } finally {
    await ns.destroy();
  }
});

test.serial('65,507-byte datagrams both ways between Linux and kernel.dgram: fragmented, reassembled, byte for byte', async (t) => {
  if (!runnable(t)) return;
  t.timeout(90_000);
  const ns = await Netns.create();
  try {
    await linuxTap(ns);
    const peer = ns.nodeLines(PEER, [TAP, `${RUMP}/24`]);
    await peer.next(/"ready"/);
    const N = 65507;
    const want = (await import('node:crypto')).createHash('sha256').update(pattern(0, N + 1).subarray(0, N)).digest('hex');

    const lin = ns.spawnLines('timeout', ['40', 'python3', '-c', PY_RECV, '-', '6000', LINUX, '1']);
    await lin.next(/listening/);
    peer.send(JSON.stringify({ op: 'send', host: LINUX, port: 6000, bytes: N }));
    t.like(await next(peer, /"sent"/), { bytes: N, sha256: want });
    t.like(await next(lin, /message/), { bytes: N, sha256: want, from: RUMP });

    peer.send(JSON.stringify({ op: 'listen', port: 6001 }));
    await peer.next(/"listening"/);
    t.like(await pySend(ns, RUMP, 6001, { bytes: N }), { bytes: N, sha256: want });
    t.like(await next(peer, /"message"/), { bytes: N, sha256: want, from: LINUX });
    peer.send(JSON.stringify({ op: 'stats' }));
    const st = await next(peer, /"stats"/);
    t.like(st.ip as Record<string, number>, { reassembled: 1, fragmented: 1 });
    peer.end();
    await peer.exited;
  } finally {
    await ns.destroy();
  }
});

const LINUX6 = '2001:db8::1';
const RUMP6 = '2001:db8::2';
const GROUP6 = 'ff0e::1:2:3';

test.serial('over IPv6: multicast both ways with MLD, and 65,527-byte datagrams both ways in IPv6 fragments', async (t) => {
  if (!runnable(t)) return;
  t.timeout(90_000);
  const ns = await Netns.create();
  try {
    await ns.must('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']);
    await linuxTap(ns);
    await ns.must('ip', ['-6', 'addr', 'add', `${LINUX6}/64`, 'dev', TAP, 'nodad']);
    const cap = await ns.start('tcpdump', ['-i', TAP, '--immediate-mode', '-U', '-w', join(ns.dir, 'v6.pcap'), 'ip6'], /listening on/);
    const peer = ns.nodeLines(PEER, [TAP, `${RUMP}/24`, `${RUMP6}/64`]);
    await peer.next(/"ready"/);
    const N = 65527;
    const want = (await import('node:crypto')).createHash('sha256').update(pattern(0, N + 1).subarray(0, N)).digest('hex');

    // Linux joins, kernel.dgram (udp6) sends to the group.
    const lin = ns.spawnLines('timeout', ['40', 'python3', '-c', PY_RECV, GROUP6, '5100', TAP, '1']);
    await lin.next(/listening/);
    peer.send(JSON.stringify({ op: 'send', host: GROUP6, port: 5100, text: 'from rump to the v6 group' }));
    await peer.next(/"sent"/);
    t.like(await next(lin, /message/), { text: 'from rump to the v6 group', from: RUMP6 });

    // kernel.dgram joins; Linux sends to the group, then 65,527 bytes to the kernel's address (ND first).
    peer.send(JSON.stringify({ op: 'listen', port: 5101, group: GROUP6, family: 6 }));
    await peer.next(/"listening"/);
    await pySend(ns, GROUP6, 5101, { text: 'from linux to the v6 group' });
    t.like(await next(peer, /"message"/), { text: 'from linux to the v6 group', from: LINUX6 });
    t.like(await pySend(ns, RUMP6, 5101, { bytes: N }), { bytes: N, sha256: want });
    t.like(await next(peer, /"message"/), { bytes: N, sha256: want, from: LINUX6 });

    // And 65,527 bytes the other way.
    const lin2 = ns.spawnLines('timeout', ['40', 'python3', '-c', PY_RECV, '-6', '5102', TAP, '1']);
    await lin2.next(/listening/);
    peer.send(JSON.stringify({ op: 'send', host: LINUX6, port: 5102, bytes: N }));
    t.like(await next(peer, /"sent"/), { bytes: N, sha256: want });
    t.like(await next(lin2, /message/), { bytes: N, sha256: want, from: RUMP6 });

    peer.send(JSON.stringify({ op: 'stats' }));
    const st = await next(peer, /"stats"/);
    t.like(st.ip6 as Record<string, number>, { reassembled: 1, fragmented: 1 });
    peer.end();
    await peer.exited;
    await cap.stop();
    const mld = await run('tshark', ['-r', join(ns.dir, 'v6.pcap'), '-Y', `icmpv6.type == 131 && ipv6.src == ${RUMP6}`, '-T', 'fields', '-e', 'ipv6.dst', '-e', 'ipv6.hlim', '-e', 'icmpv6.mld.multicast_address']);
    t.is(mld.status, 0, mld.stderr);
    t.true(mld.stdout.split('\n').includes(`${GROUP6}\t1\t${GROUP6}`), mld.stdout);
  } finally {
    await ns.destroy();
  }
});
