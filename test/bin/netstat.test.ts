/*
 * rump.netstat: -rn as route show's table, -s from the kernel's counter
 * records with NetBSD's wording (-s every line, -ss the non-zero ones),
 * -i, and the socket listing.
 */
import test from 'ava';
import { Errno, ENOENT, ENOSYS } from '../../kern/errno.js';
import { ArpStat, IcmpStat, IpStat, UdpStat } from '../../net/inet/inet.js';
import { IgmpStat } from '../../net/inet/igmp.js';
import type { IfInfo, RouteInfo } from '../../net/ioctl.js';
import { RTF_GATEWAY, RTF_HOST, RTF_LOCAL, RTF_STATIC, RTF_UP } from '../../net/route.js';
import { main, type PcbInfo } from '../../bin/rump.netstat.js';
import { fakeSys, netbsdInterfaces, netbsdRoutes, netbsdTranscript, run } from './helpers.js';

function record(o: object): Record<string, unknown> {
  return { ...o };
}

function statsKernel(pcbs: PcbInfo[] | null = null) {
  const ip = new IpStat();
  ip.total = 12;
  ip.delivered = 11;
  ip.localout = 9;
  ip.noroute = 1;
  ip.forward = 2;
  const icmp = new IcmpStat();
  icmp.outhist[0] = 3;
  icmp.inhist[8] = 3;
  icmp.inhist[0] = 1;
  icmp.reflect = 3;
  const udp = new UdpStat();
  udp.ipackets = 5;
  udp.noport = 1;
  udp.opackets = 4;
  const arp = new ArpStat();
  arp.snd_request = 2;
  arp.snd_reply = 1;
  arp.rcv_total = 3;
  arp.rcv_reply = 2;
  arp.rcv_request = 1;
  const mibs: Record<string, unknown> = {
    'net.inet.ip.stats': record(ip),
    'net.inet.icmp.stats': { ...record(icmp), outhist: [...icmp.outhist], inhist: [...icmp.inhist] },
    'net.inet.udp.stats': record(udp),
    'net.inet.arp.stats': record(arp),
  };
  return fakeSys({
    sysctl: ((name: string) => {
      if (!(name in mibs)) throw new Errno(ENOENT, 'sysctl');
      return mibs[name];
    }) as never,
    ext: ((name: string) => {
      if (name === 'rtdump') return netbsdRoutes();
      if (name === 'pcblist' && pcbs) return pcbs;
      throw new Errno(78, name);
    }) as never,
    socket: () => 3,
    close: () => undefined,
    ioctl: (() => netbsdInterfaces()) as never,
  });
}

test('netstat -rn prints the routing table with route show\'s columns', async (t) => {
  const r = await run(main, ['-rn'], statsKernel());
  t.is(r.out, netbsdTranscript('rump.route -n show').text);
  t.is(r.status, 0);
});

test('netstat -s: udp, ip, icmp, arp in NetBSD\'s order and words, zero lines included', async (t) => {
  const r = await run(main, ['-s'], statsKernel());
  t.is(r.status, 0);
  const sections = r.out.split('\n').filter((l) => /^[a-z]+:$/.test(l));
  t.deepEqual(sections, ['udp:', 'ip:', 'icmp:', 'arp:'], 'no tcp: the kernel has no net.inet.tcp.stats');
  const ip = r.out.slice(r.out.indexOf('ip:\n'), r.out.indexOf('icmp:\n'));
  t.true(ip.startsWith('ip:\n\t12 total packets received\n\t0 bad header checksums\n\t0 with size smaller than minimum\n'));
  t.true(ip.includes('\t11 packets for this host\n'));
  t.true(ip.includes('\t2 packets forwarded (0 packets fast forwarded)\n'));
  t.true(ip.includes('\t1 output packet discarded due to no route\n'));
  const udp = r.out.slice(0, r.out.indexOf('ip:\n'));
  t.true(udp.includes('\t5 datagrams received\n\t0 with incomplete header\n'));
  t.true(udp.includes('\t1 dropped due to no socket\n'));
  t.true(udp.includes('\t4 delivered\n'));
  t.true(udp.includes('\t0 PCB hash misses\n'));
  t.true(udp.includes('\t4 datagrams output\n'));
});

test('netstat -ss leaves the zero counters out; the histograms list the types seen', async (t) => {
  const r = await run(main, ['-ss'], statsKernel());
  t.is(
    r.out,
    'udp:\n\t5 datagrams received\n\t1 dropped due to no socket\n\t4 delivered\n\t4 datagrams output\n' +
      'ip:\n\t12 total packets received\n\t11 packets for this host\n\t2 packets forwarded\n' +
      '\t9 packets sent from this host\n\t1 output packet discarded due to no route\n' +
      'icmp:\n\tOutput histogram:\n\t\techo reply: 3\n\tInput histogram:\n\t\techo reply: 1\n\t\techo: 3\n' +
      '\t3 message responses generated\n' +
      'arp:\n\t3 packets sent\n\t\t1 reply packet\n\t\t2 request packets\n\t3 packets received\n' +
      '\t\t2 reply packets\n\t\t1 valid request packet\n',
  );
});

test('netstat -s -p icmp shows one protocol; an unknown one is an error', async (t) => {
  const r = await run(main, ['-s', '-p', 'icmp'], statsKernel());
  t.true(r.out.startsWith('icmp:\n\t0 calls to icmp_error\n'));
  t.false(r.out.includes('ip:\n'));
  const bad = await run(main, ['-s', '-p', 'xtp'], statsKernel());
  t.is(bad.err, 'rump.netstat: xtp: unknown or uninstrumented protocol\n');
  t.is(bad.status, 1);
});

test('netstat -s -p igmp: NetBSD\'s words for the IGMP counters of a kernel that joined and was queried', async (t) => {
  const igmp = new IgmpStat();
  igmp.rcv_total = 2;
  igmp.rcv_queries = 1;
  igmp.rcv_reports = 1;
  igmp.rcv_ourreports = 1;
  igmp.snd_reports = 2;
  igmp.snd_leaves = 1;
  const sys = fakeSys({
    sysctl: ((name: string) => {
      if (name !== 'net.inet.igmp.stats') throw new Errno(ENOENT, 'sysctl');
      return record(igmp);
    }) as never,
  });
  const r = await run(main, ['-ss', '-p', 'igmp'], sys);
  t.is(
    r.out,
    'igmp:\n\t2 messages received\n\t1 membership query received\n\t1 membership report received\n' +
      '\t1 membership report received for groups to which we belong\n\t2 membership reports sent\n\t1 leave message sent\n',
  );
  t.is(r.status, 0);
});

test('netstat -i: a <Link> row and one per address, NetBSD\'s columns', async (t) => {
  const list = netbsdInterfaces();
  list[1]!.stats.ipackets = 7;
  list[1]!.stats.opackets = 9;
  const sys = fakeSys({ socket: () => 3, close: () => undefined, ioctl: (() => list) as never });
  const r = await run(main, ['-in'], sys);
  t.is(
    r.out,
    'Name  Mtu   Network       Address              Ipkts Ierrs    Opkts Oerrs Colls\n' +
      'lo0   33624 <Link>                                 0     0        0     0     0\n' +
      'lo0   33624 127/8         127.0.0.1                0     0        0     0     0\n' +
      'shmif 1500  <Link>        b2:a0:49:01:90:32        7     0        9     0     0\n' +
      'shmif 1500  192.0.2/24    192.0.2.1                7     0        9     0     0\n' +
      'shmif 1500  <Link>        b2:a0:b8:65:15:51        0     0        0     0     0\n' +
      'shmif 1500  198.51.100/24 198.51.100.1             0     0        0     0     0\n',
  );
  const wide = await run(main, ['-inv', '-I', 'shmif1'], sys);
  t.true(wide.out.split('\n')[1]!.startsWith('shmif1 1500  <Link>        b2:a0:b8:65:15:51 '));
  const down: IfInfo[] = [{ ...list[1]!, flags: 0, inet: [] }];
  const d = await run(main, ['-i'], fakeSys({ socket: () => 3, close: () => undefined, ioctl: (() => down) as never }));
  t.true(d.out.split('\n')[1]!.startsWith('shmif 1500  <Link>'), 'shmif0* cut to five columns, as NetBSD');
});

test('netstat -an lists the sockets; without -a only connected ones', async (t) => {
  const pcbs: PcbInfo[] = [
    { proto: 'udp', laddr: '0.0.0.0', lport: 7, faddr: '0.0.0.0', fport: 0, recvQ: 0, sendQ: 0 },
    { proto: 'udp', laddr: '192.0.2.1', lport: 65000, faddr: '192.0.2.2', fport: 7, recvQ: 12, sendQ: 0 },
    { proto: 'tcp', laddr: '192.0.2.1', lport: 80, faddr: '0.0.0.0', fport: 0, recvQ: 0, sendQ: 0, state: 'LISTEN' },
  ];
  const r = await run(main, ['-an'], statsKernel(pcbs));
  t.is(
    r.out,
    'Active Internet connections (including servers)\n' +
      'Proto Recv-Q Send-Q  Local Address          Foreign Address        State\n' +
      'tcp        0      0  192.0.2.1.80           *.*                    LISTEN\n' +
      'udp        0      0  *.7                    *.*                   \n' +
      'udp       12      0  192.0.2.1.65000        192.0.2.2.7           \n',
  );
  const connected = await run(main, ['-n'], statsKernel(pcbs));
  t.is(
    connected.out,
    'Active Internet connections\n' +
      'Proto Recv-Q Send-Q  Local Address          Foreign Address        State\n' +
      'udp       12      0  192.0.2.1.65000        192.0.2.2.7           \n',
  );
});

test('a kernel without pcblist: the header only', async (t) => {
  const r = await run(main, ['-an'], statsKernel(null));
  t.is(r.out, 'Active Internet connections (including servers)\nProto Recv-Q Send-Q  Local Address          Foreign Address        State\n');
  t.is(r.status, 0);
});

test('usage errors exit 1', async (t) => {
  for (const argv of [['-Z'], ['extra'], ['-p']]) {
    const r = await run(main, argv, statsKernel());
    t.is(r.status, 1, argv.join(' '));
    t.regex(r.err, /usage: rump\.netstat/);
  }
  const af = await run(main, ['-f', 'appletalk'], statsKernel());
  t.is(af.err, 'rump.netstat: appletalk: unknown address family\n');
  t.is(af.status, 1);
});

/* ------------------------------------------------------------------------ */
/* IPv6 */

const PCBS6: PcbInfo[] = [
  { proto: 'tcp', laddr: '192.0.2.1', lport: 80, faddr: '0.0.0.0', fport: 0, recvQ: 0, sendQ: 0, state: 'LISTEN', family: 2 },
  { proto: 'udp6', laddr: '::', lport: 53, faddr: '::', fport: 0, recvQ: 0, sendQ: 0, family: 24 },
  { proto: 'tcp6', laddr: '::', lport: 80, faddr: '::', fport: 0, recvQ: 0, sendQ: 0, state: 'LISTEN', family: 24 },
  { proto: 'tcp6', laddr: '::1', lport: 22, faddr: '::1', fport: 65000, recvQ: 3, sendQ: 5, state: 'ESTABLISHED', family: 24 },
  { proto: 'tcp6', laddr: '2001:db8:1234:5678::1', lport: 8080, faddr: '2001:db8::2', fport: 49152, recvQ: 0, sendQ: 0, state: 'SYN_SENT', family: 24 },
];

const HEADER = 'Proto Recv-Q Send-Q  Local Address          Foreign Address        State\n';

test('netstat -an: an Internet6 section after the IPv4 one, tcp6 then udp6, NetBSD\'s columns', async (t) => {
  const r = await run(main, ['-an'], statsKernel(PCBS6));
  t.is(r.status, 0);
  t.is(
    r.out,
    'Active Internet connections (including servers)\n' + HEADER +
      'tcp        0      0  192.0.2.1.80           *.*                    LISTEN\n' +
      'Active Internet6 connections (including servers)\n' + HEADER +
      'tcp6       0      0  *.80                   *.*                    LISTEN\n' +
      'tcp6       3      5  ::1.22                 ::1.65000              ESTABLISHED\n' +
      // inet6print cuts the host to 16 characters before the port.
      'tcp6       0      0  2001:db8:1234:56.8080  2001:db8::2.49152      SYN_SENT\n' +
      'udp6       0      0  *.53                   *.*                   \n',
  );
  const connected = await run(main, ['-n'], statsKernel(PCBS6));
  t.is(
    connected.out,
    'Active Internet connections\n' + HEADER +
      'Active Internet6 connections\n' + HEADER +
      'tcp6       3      5  ::1.22                 ::1.65000              ESTABLISHED\n' +
      'tcp6       0      0  2001:db8:1234:56.8080  2001:db8::2.49152      SYN_SENT\n',
  );
});

test('netstat -f inet6 shows only the IPv6 sockets, -f inet only the IPv4 ones', async (t) => {
  const six = await run(main, ['-an', '-f', 'inet6'], statsKernel(PCBS6));
  t.true(six.out.startsWith('Active Internet6 connections (including servers)\n' + HEADER + 'tcp6 '));
  t.false(six.out.includes('Active Internet connections'));
  const four = await run(main, ['-an', '-f', 'inet'], statsKernel(PCBS6));
  t.is(four.out, 'Active Internet connections (including servers)\n' + HEADER + 'tcp        0      0  192.0.2.1.80           *.*                    LISTEN\n');
  // An IPv4-only kernel with -f inet6: the header, as for IPv4.
  const none = await run(main, ['-an', '-f', 'inet6'], statsKernel(null));
  t.is(none.out, 'Active Internet6 connections (including servers)\n' + HEADER);
});

test('netstat: a kernel that only says tcp6/udp6 (no family) is still split by protocol name', async (t) => {
  const bare = PCBS6.map(({ family: _f, ...p }) => p);
  const r = await run(main, ['-an'], statsKernel(bare));
  t.is(r.out, (await run(main, ['-an'], statsKernel(PCBS6))).out);
});

const ROUTES6: RouteInfo[] = [
  { dst: 'fe80::', prefixLen: 64, gateway: 'link#2', flags: RTF_UP, refs: 0, use: 0, mtu: 0, ifname: 'shmif0', ifaddr: 'fe80::1' },
  { dst: '::1', prefixLen: 128, gateway: 'lo0', flags: RTF_UP | RTF_HOST | RTF_LOCAL, refs: 0, use: 4, mtu: 33624, ifname: 'lo0', ifaddr: '::1' },
  { dst: 'default', prefixLen: 0, gateway: '2001:db8::fe', flags: RTF_UP | RTF_GATEWAY | RTF_STATIC, refs: 0, use: 0, mtu: 0, ifname: 'shmif0', ifaddr: null },
  { dst: '2001:db8::', prefixLen: 64, gateway: 'link#2', flags: RTF_UP, refs: 0, use: 0, mtu: 1280, ifname: 'shmif0', ifaddr: '2001:db8::1' },
];

function routeKernel(routes6: RouteInfo[] | null) {
  return fakeSys({
    ext: ((name: string) => {
      if (name === 'rtdump') return netbsdRoutes();
      if (name === 'rt6dump' && routes6) return routes6;
      throw new Errno(ENOSYS, name);
    }) as never,
  });
}

const INET6_ROUTES =
  'Internet6:\n' +
  'Destination                        Gateway                        Flags    Refs      Use    Mtu Interface\n' +
  'default                            2001:db8::fe                   UGS         -        -      -  shmif0\n' +
  '::1                                lo0                            UHl         -        -  33624  lo0\n' +
  '2001:db8::/64                      link#2                         U           -        -   1280  shmif0\n' +
  'fe80::/64                          link#2                         U           -        -      -  shmif0\n';

test('netstat -rn: Internet6 after Internet, by destination; -f picks one', async (t) => {
  const ipv4 = netbsdTranscript('rump.route -n show').text;
  const r = await run(main, ['-rn'], routeKernel(ROUTES6));
  t.is(r.status, 0);
  t.is(r.out, `${ipv4}\n${INET6_ROUTES}`);
  const six = await run(main, ['-rn', '-f', 'inet6'], routeKernel(ROUTES6));
  t.is(six.out, `Routing tables\n\n${INET6_ROUTES}`);
  const four = await run(main, ['-rn', '-f', 'inet'], routeKernel(ROUTES6));
  t.is(four.out, ipv4);
  const noV6 = await run(main, ['-rn'], routeKernel(null));
  t.is(noV6.out, ipv4, 'a kernel without net_netinet6: no Internet6 section');
});
