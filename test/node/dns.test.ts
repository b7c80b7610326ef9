/*
 * kernel.dns: names resolve in the kernel's world, on the simulated clock.
 *
 *   client 192.0.2.1 ─┐
 *   ns1    192.0.2.53 ├── shmif bus "dns" (sim host, virtual time)
 *   ns2    192.0.2.54 ┘   (ns2 answers or stays silent, per test)
 *
 * The name servers are rump kernels running a small authoritative server
 * (test/helpers/dns-server.ts) on their kernel.dgram and kernel.net; the
 * client kernel's resolver asks them over its own sockets. Nothing here
 * touches the host's resolver: the names exist only in these zones.
 */
import test from 'ava';
import { createSimHost, type RumpKernel, type SimHost } from '../../index.js';
import { DnsType } from '../../net/wire/dns.js';
import { parseResolvConf } from '../../net/resolv.js';
import { startDnsServer, type DnsServerOptions, type TestDnsServer } from '../helpers/dns-server.js';
import { drive, simKernel } from './helpers.js';

const ZONE: DnsServerOptions['zone'] = {
  'www.lab.example': [{ type: DnsType.A, data: '192.0.2.80' }, { type: DnsType.AAAA, data: '2001:db8::80' }],
  'web.lab.example': [{ type: DnsType.CNAME, data: 'www.lab.example' }],
  'v6only.lab.example': [{ type: DnsType.AAAA, data: '2001:db8::6' }],
  'xn--bcher-kva.lab.example': [{ type: DnsType.A, data: '192.0.2.88' }],
  'lab.example': [
    { type: DnsType.MX, data: { priority: 10, exchange: 'mail.lab.example' } },
    { type: DnsType.TXT, data: ['v=spf1 -all', 'second'] },
    { type: DnsType.NS, data: 'ns1.lab.example' },
    {
      type: DnsType.SOA,
      data: { nsname: 'ns1.lab.example', hostmaster: 'root.lab.example', serial: 7, refresh: 3600, retry: 600, expire: 86400, minttl: 60 },
    },
  ],
  'sip.lab.example': [
    { type: DnsType.NAPTR, data: { flags: 'S', service: 'SIP+D2U', regexp: '', replacement: '_sip._udp.lab.example', order: 100, preference: 10 } },
  ],
  '_http._tcp.lab.example': [{ type: DnsType.SRV, data: { priority: 1, weight: 5, port: 8080, name: 'www.lab.example' } }],
  '80.2.0.192.in-addr.arpa': [{ type: DnsType.PTR, data: 'www.lab.example' }],
  'big.lab.example': Array.from({ length: 40 }, (_, i) => ({ type: DnsType.A, data: `198.51.100.${i + 1}` })),
};

interface Lab {
  sim: SimHost;
  client: RumpKernel;
  ns1: RumpKernel;
  ns2: RumpKernel;
  s1: TestDnsServer;
  s2: TestDnsServer;
}

async function lab(seed: number, ns1: Partial<DnsServerOptions> = {}, ns2: Partial<DnsServerOptions> = { silent: true }): Promise<Lab> {
  const sim = createSimHost({ seed });
  const client = await simKernel(sim, 'dns', '192.0.2.1');
  const k1 = await simKernel(sim, 'dns', '192.0.2.53');
  const k2 = await simKernel(sim, 'dns', '192.0.2.54');
  const s1 = startDnsServer(k1, { zone: ZONE, truncate: new Set(['big.lab.example']), ...ns1 });
  const s2 = startDnsServer(k2, { zone: ZONE, ...ns2 });
  await sim.run(1);
  return { sim, client, ns1: k1, ns2: k2, s1, s2 };
}

async function done(l: Lab): Promise<void> {
  l.s1.close();
  l.s2.close();
  await l.sim.run(1);
  for (const k of [l.client, l.ns1, l.ns2]) await k.halt();
}

test('lookup, resolve4/resolve6 and the other record types come from the kernel\'s name server', async (t) => {
  const l = await lab(1);
  await l.client.resolver.set({ nameservers: ['192.0.2.53'] });
  const d = l.client.dns.promises;
  const got = await drive(l.sim, (async () => ({
    lookup: await d.lookup('www.lab.example'),
    lookup6: await d.lookup('www.lab.example', 6),
    all: await d.lookup('www.lab.example', { all: true }),
    cname: await d.lookup('web.lab.example'),
    a: await d.resolve4('www.lab.example'),
    attl: await d.resolve4('www.lab.example', { ttl: true }),
    aaaa: await d.resolve6('www.lab.example'),
    mx: await d.resolveMx('lab.example'),
    txt: await d.resolveTxt('lab.example'),
    ns: await d.resolveNs('lab.example'),
    soa: await d.resolveSoa('lab.example'),
    srv: await d.resolveSrv('_http._tcp.lab.example'),
    naptr: await d.resolveNaptr('sip.lab.example'),
    cnameRec: await d.resolveCname('web.lab.example'),
    reverse: await d.reverse('192.0.2.80'),
    generic: await d.resolve('lab.example', 'MX'),
    any: await d.resolveAny('lab.example'),
  }))());
  t.deepEqual(got.lookup, { address: '192.0.2.80', family: 4 });
  t.deepEqual(got.lookup6, { address: '2001:db8::80', family: 6 });
  t.deepEqual(got.all, [{ address: '192.0.2.80', family: 4 }, { address: '2001:db8::80', family: 6 }]);
  t.deepEqual(got.cname, { address: '192.0.2.80', family: 4 }, 'a CNAME chain ends at its address');
  t.deepEqual(got.a, ['192.0.2.80']);
  t.deepEqual(got.attl, [{ address: '192.0.2.80', ttl: 300 }]);
  t.deepEqual(got.aaaa, ['2001:db8::80']);
  t.deepEqual(got.mx, [{ priority: 10, exchange: 'mail.lab.example' }]);
  t.deepEqual(got.txt, [['v=spf1 -all', 'second']]);
  t.deepEqual(got.ns, ['ns1.lab.example']);
  t.deepEqual(got.soa, { nsname: 'ns1.lab.example', hostmaster: 'root.lab.example', serial: 7, refresh: 3600, retry: 600, expire: 86400, minttl: 60 });
  t.deepEqual(got.srv, [{ priority: 1, weight: 5, port: 8080, name: 'www.lab.example' }]);
  t.deepEqual(got.naptr, [{ flags: 'S', service: 'SIP+D2U', regexp: '', replacement: '_sip._udp.lab.example', order: 100, preference: 10 }]);
  t.deepEqual(got.cnameRec, ['www.lab.example']);
  t.deepEqual(got.reverse, ['www.lab.example']);
  t.deepEqual(got.generic, [{ priority: 10, exchange: 'mail.lab.example' }]);
  t.deepEqual(got.any, [
    { priority: 10, exchange: 'mail.lab.example', type: 'MX' },
    { entries: ['v=spf1 -all', 'second'], type: 'TXT' },
    { value: 'ns1.lab.example', type: 'NS' },
    { nsname: 'ns1.lab.example', hostmaster: 'root.lab.example', serial: 7, refresh: 3600, retry: 600, expire: 86400, minttl: 60, type: 'SOA' },
  ]);
  t.true(l.s1.log.includes('udp A www.lab.example'));
  await done(l);
});

test('NXDOMAIN is ENOTFOUND and no data is ENODATA, shaped as node:dns shapes them', async (t) => {
  const l = await lab(2);
  await l.client.resolver.set({ nameservers: ['192.0.2.53'] });
  const d = l.client.dns.promises;
  const e1 = await drive(l.sim, d.resolve4('nowhere.lab.example').catch((e: unknown) => e));
  t.like(e1, { code: 'ENOTFOUND', syscall: 'queryA', hostname: 'nowhere.lab.example', message: 'queryA ENOTFOUND nowhere.lab.example' });
  t.is(l.client.dns.NOTFOUND, 'ENOTFOUND');
  const e2 = await drive(l.sim, d.resolve4('v6only.lab.example').catch((e: unknown) => e));
  t.like(e2, { code: 'ENODATA', syscall: 'queryA' });
  const e3 = await drive(l.sim, d.lookup('nowhere.lab.example').catch((e: unknown) => e));
  t.like(e3, { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'nowhere.lab.example', message: 'getaddrinfo ENOTFOUND nowhere.lab.example' });
  t.true((e3 as { errno: number }).errno < 0, "lookup's errno is Node's negative EAI_NONAME");
  await done(l);
});

test('a silent first server times out on the kernel clock and the next one answers', async (t) => {
  const l = await lab(3);
  await l.client.resolver.set({ nameservers: ['192.0.2.54', '192.0.2.53'], timeout: 2, attempts: 1 });
  const t0 = l.sim.now();
  const a = await drive(l.sim, l.client.dns.promises.resolve4('www.lab.example'));
  const took = l.sim.now() - t0;
  t.deepEqual(a, ['192.0.2.80']);
  t.deepEqual(l.s2.log, ['udp A www.lab.example'], 'the silent server was asked first');
  t.true(took >= 2000 && took < 2500, `waited out the 2 s timeout in virtual time (${took} ms)`);
  await done(l);
});

test('every server silent: resolve gives ETIMEOUT after attempts × servers tries, lookup EAI_AGAIN', async (t) => {
  const l = await lab(4, { silent: true });
  await l.client.resolver.set({ nameservers: ['192.0.2.53', '192.0.2.54'], timeout: 1, attempts: 2 });
  const t0 = l.sim.now();
  const e = await drive(l.sim, l.client.dns.promises.resolve4('www.lab.example').catch((x: unknown) => x));
  t.like(e, { code: 'ETIMEOUT', syscall: 'queryA' });
  // Two rounds over two servers, the per-try time doubling in the second round: 1+1+2+2 s.
  const took = l.sim.now() - t0;
  t.true(took >= 6000 && took < 6500, `took ${took} ms of virtual time`);
  t.is(l.s1.log.length + l.s2.log.length, 4);
  const e2 = await drive(l.sim, l.client.dns.promises.lookup('www.lab.example', 4).catch((x: unknown) => x));
  t.like(e2, { code: 'EAI_AGAIN', syscall: 'getaddrinfo' });
  t.deepEqual(l.client.sys.openFds(), [], 'timed-out query sockets are closed');
  l.s1.close();
  l.s2.close();
  await l.sim.run(1);
  t.is(l.sim.holds(), 0, 'nothing of the queries keeps the process alive');
  await done(l);
});

test('a truncated UDP answer is asked again over TCP (RFC 7766)', async (t) => {
  const l = await lab(5);
  await l.client.resolver.set({ nameservers: ['192.0.2.53'] });
  const a = await drive(l.sim, l.client.dns.promises.resolve4('big.lab.example'));
  t.is(a.length, 40);
  t.is(a[39], '198.51.100.40');
  t.deepEqual(l.s1.log, ['udp A big.lab.example', 'tcp A big.lab.example']);
  await done(l);
});

test('search domains and ndots: a short name is tried with each domain first', async (t) => {
  const l = await lab(6);
  await l.client.resolver.set({ nameservers: ['192.0.2.53'], search: ['other.example', 'lab.example'] });
  const r = await drive(l.sim, l.client.dns.promises.lookup('www', 4));
  t.deepEqual(r, { address: '192.0.2.80', family: 4 });
  t.deepEqual(l.s1.log, ['udp A www.other.example', 'udp A www.lab.example']);
  // resolve* asks for the name as given (c-ares ares_query), no search list.
  const e = await drive(l.sim, l.client.dns.promises.resolve4('www').catch((x: unknown) => x));
  t.like(e, { code: 'ENOTFOUND' });
  // A name with a trailing dot is absolute: no search.
  l.s1.log.length = 0;
  await drive(l.sim, l.client.dns.promises.lookup('www.lab.example.', 4));
  t.deepEqual(l.s1.log, ['udp A www.lab.example']);
  // An internationalised name is asked in its punycode form (as Node gives names to getaddrinfo/c-ares).
  t.deepEqual(await drive(l.sim, l.client.dns.promises.lookup('bücher.lab.example', 4)), { address: '192.0.2.88', family: 4 });
  t.deepEqual(await drive(l.sim, l.client.dns.promises.resolve4('bücher.lab.example')), ['192.0.2.88']);
  await done(l);
});

test('the hosts table and localhost answer without asking the network', async (t) => {
  const l = await lab(7);
  await l.client.resolver.set({ nameservers: ['192.0.2.53'] });
  await l.client.resolver.loadHosts('# the kernel\'s own /etc/hosts\n192.0.2.77  www.lab.example  www\n2001:db8::77 www.lab.example\n192.0.2.7 gw.lab.example\n');
  const d = l.client.dns.promises;
  const got = await drive(l.sim, Promise.all([
    d.lookup('www.lab.example'), d.lookup('WWW', 4), d.lookup('localhost'), d.lookup('foo.localhost', 6), d.lookup('www.lab.example', { all: true }),
  ]));
  t.deepEqual(got, [
    { address: '192.0.2.77', family: 4 },
    { address: '192.0.2.77', family: 4 },
    { address: '127.0.0.1', family: 4 },
    { address: '::1', family: 6 },
    [{ address: '192.0.2.77', family: 4 }, { address: '2001:db8::77', family: 6 }],
  ]);
  t.deepEqual(await drive(l.sim, d.reverse('2001:DB8:0::77')), ['www.lab.example']);
  t.deepEqual(await drive(l.sim, d.lookupService('192.0.2.77', 22)), { hostname: 'www.lab.example', service: 'ssh' });
  t.deepEqual(l.s1.log, [], 'no query left the kernel');
  // AI_V4MAPPED: no IPv6 address in the table or DNS, the IPv4 one mapped.
  t.deepEqual(await drive(l.sim, d.lookup('gw.lab.example', { family: 6, hints: l.client.dns.V4MAPPED as number })), { address: '::ffff:192.0.2.7', family: 6 });
  await done(l);
});

test('kernel.net and kernel.dgram resolve host names through kernel.dns', async (t) => {
  const l = await lab(8);
  await l.client.resolver.set({ nameservers: ['192.0.2.53'] });
  // www.lab.example is 192.0.2.80 in the zone; give ns2 that address too, so a connection can land.
  await l.ns2.netconfig.ipv4IfaddrCidr('shmif0', '192.0.2.80', 24);
  l.ns2.net.createServer((s) => s.end('hello from www\n')).listen(80);
  const text = await drive(l.sim, new Promise<string>((resolve, reject) => {
    const s = l.client.net.connect(80, 'www.lab.example');
    let acc = '';
    s.on('lookup', (err, address) => (acc += `lookup ${err} ${address}\n`));
    s.on('data', (d: Buffer) => (acc += d.toString()));
    s.on('end', () => resolve(acc));
    s.on('error', reject);
  }));
  t.is(text, 'lookup null 192.0.2.80\nhello from www\n');
  const sent = await drive(l.sim, new Promise<Error | null>((resolve) => {
    const u = l.client.dgram.createSocket('udp4');
    u.send('x', 9, 'nowhere.lab.example', (err: Error | null) => {
      u.close();
      resolve(err);
    });
  }));
  t.like(sent, { code: 'ENOTFOUND' });
  await done(l);
});

test('Resolver: its own servers (with a port), getServers, cancel; forged answers are dropped', async (t) => {
  const l = await lab(9, { forgeFirst: true }, { port: 5353, silent: true });
  await l.client.resolver.set({ nameservers: ['192.0.2.53'] });
  const { Resolver } = l.client.dns.promises;
  const r = new Resolver({ timeout: 500, tries: 1 });
  t.deepEqual(r.getServers(), ['192.0.2.53']);
  // ns2 on 5353 is silent: cancel() ends the query at once with ECANCELLED.
  r.setServers(['192.0.2.54:5353']);
  t.deepEqual(r.getServers(), ['192.0.2.54:5353']);
  const p = r.resolve4('www.lab.example').catch((e: unknown) => e);
  await l.sim.run(10);
  r.cancel();
  t.like(await drive(l.sim, p), { code: 'ECANCELLED', syscall: 'queryA' });
  t.deepEqual(l.s2.log, ['udp A www.lab.example']);
  // ns1 sends a forged answer (wrong ID, 203.0.113.66) before the real one.
  r.setServers(['192.0.2.53']);
  t.deepEqual(await drive(l.sim, r.resolve4('www.lab.example')), ['192.0.2.80']);
  t.throws(() => r.setServers(['not-an-address']), { code: 'ERR_INVALID_IP_ADDRESS' });
  t.throws(() => l.client.dns.resolve('x', 'BOGUS', () => {}), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => l.client.dns.lookup('x', 5 as never, () => {}), { code: 'ERR_INVALID_ARG_VALUE' });
  await done(l);
});

test('no name servers: names resolve from the hosts table only, DNS queries fail with ECONNREFUSED', async (t) => {
  const sim = createSimHost({ seed: 10 });
  const k = await simKernel(sim, 'dns', '192.0.2.1');
  const d = k.dns.promises;
  t.like(await drive(sim, d.lookup('www.lab.example').catch((e: unknown) => e)), { code: 'ENOTFOUND' });
  t.like(await drive(sim, d.resolve4('www.lab.example').catch((e: unknown) => e)), { code: 'ECONNREFUSED' });
  t.deepEqual(await drive(sim, d.lookup('192.0.2.9')), { address: '192.0.2.9', family: 4 });
  await k.halt();
});

test('the configuration is sysctl state: rumpInit options, net.resolv.*, and bad values refused', async (t) => {
  const sim = createSimHost({ seed: 11 });
  const { rumpInit } = await import('../../index.js');
  const k = await rumpInit({
    host: sim,
    resolvConf: 'nameserver 192.0.2.53\nnameserver [2001:db8::53]:5353\nsearch lab.example\noptions ndots:2 timeout:3 attempts:4 rotate\n',
    hosts: '192.0.2.7 gw gateway.lab.example\n',
  });
  t.deepEqual(await k.resolver.get(), {
    nameservers: ['192.0.2.53', '[2001:db8::53]:5353'], search: ['lab.example'], ndots: 2, timeout: 3, attempts: 4,
    hosts: [{ address: '192.0.2.7', names: ['gw', 'gateway.lab.example'] }],
  });
  t.is(await k.sys.sysctl('net.resolv.nameserver'), '192.0.2.53 [2001:db8::53]:5353');
  t.is(await k.sys.sysctl('net.resolv.hosts'), '192.0.2.7 gw gateway.lab.example');
  await t.throwsAsync(k.sys.sysctlSet('net.resolv.nameserver', 'example.com'), { code: 'EINVAL' });
  await t.throwsAsync(k.sys.sysctlSet('net.resolv.nameserver', '1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4'), { code: 'EINVAL' });
  await t.throwsAsync(k.sys.sysctlSet('net.resolv.timeout', 0), { code: 'EINVAL' });
  await t.throwsAsync(k.sys.sysctlSet('net.resolv.hosts', 'nonsense here'), { code: 'EINVAL' });
  await t.throwsAsync(rumpInit({ host: sim, resolvConf: 'nameserver dns.google\n' }), { message: /resolv.conf line 1: bad nameserver/ });
  // A host's resolv.conf as systemd or NetworkManager write it loads: comments, a scoped link-local server (skipped), unknown keywords.
  const parsed = parseResolvConf('# Generated\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\noptions edns0 trust-ad\nsearch .\nsortlist 10.0.0.0\n');
  t.deepEqual(parsed.nameservers, ['127.0.0.53']);
  t.deepEqual(parsed.search, []);
  t.deepEqual(k.dns.getServers(), ['192.0.2.53', '[2001:db8::53]:5353']);
  await k.halt();
});

test('a server port with nothing behind it (ICMP port unreachable) is ECONNREFUSED at once, not a timeout', async (t) => {
  const l = await lab(12);
  await l.client.resolver.set({ nameservers: ['192.0.2.54:5300'], timeout: 5, attempts: 1 });
  const t0 = l.sim.now();
  const e = await drive(l.sim, l.client.dns.promises.resolve4('www.lab.example').catch((x: unknown) => x));
  t.like(e, { code: 'ECONNREFUSED', syscall: 'queryA' });
  t.true(l.sim.now() - t0 < 1000, `refused in ${l.sim.now() - t0} ms of virtual time, not after the 5 s timeout`);
  // Then the next server is asked.
  await l.client.resolver.set({ nameservers: ['192.0.2.54:5300', '192.0.2.53'] });
  t.deepEqual(await drive(l.sim, l.client.dns.promises.resolve4('www.lab.example')), ['192.0.2.80']);
  await done(l);
});

test('queries leave from random ports with random IDs; lookupService names an address and a port', async (t) => {
  const l = await lab(13);
  await l.client.resolver.set({ nameservers: ['192.0.2.53'] });
  const seen: Array<{ port: number; id: number }> = [];
  const spy = l.ns2.dgram.createSocket('udp4');
  spy.on('message', (msg: Buffer, rinfo: { port: number }) => {
    seen.push({ port: rinfo.port, id: msg.readUInt16BE(0) });
    spy.send(msg.subarray(0, 2), rinfo.port, '192.0.2.1'); // nonsense back: dropped, the query times out
  });
  spy.bind(5353);
  await l.client.resolver.set({ nameservers: ['192.0.2.54:5353'], timeout: 1, attempts: 1 });
  for (let i = 0; i < 4; i++) await drive(l.sim, l.client.dns.promises.resolve4('www.lab.example').catch(() => null));
  t.is(seen.length, 4);
  t.is(new Set(seen.map((s) => s.port)).size, 4, `source ports ${seen.map((s) => s.port).join(' ')}`);
  t.is(new Set(seen.map((s) => s.id)).size, 4, `IDs ${seen.map((s) => s.id).join(' ')}`);
  spy.close();
  await l.client.resolver.set({ nameservers: ['192.0.2.53'] });
  t.deepEqual(await drive(l.sim, l.client.dns.promises.lookupService('192.0.2.80', 80)), { hostname: 'www.lab.example', service: 'http' });
  t.deepEqual(await drive(l.sim, l.client.dns.promises.lookupService('192.0.2.99', 8081)), { hostname: '192.0.2.99', service: '8081' });
  await done(l);
});

test('a name server at an IPv6 address is asked over IPv6 (same resolver, the address a value)', async (t) => {
  const sim = createSimHost({ seed: 14 });
  const { rumpInit } = await import('../../index.js');
  const { ifioctl } = await import('../../net/interface_ioctl.js');
  const { netstack } = await import('../../net/netstack.js');
  const boot = async (addr6: string): Promise<RumpKernel> => {
    const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_netinet6', 'net_shmif'], host: sim });
    const ifname = await k.netconfig.ifcreate('shmif');
    await k.netconfig.ifsetlinkstr(ifname, 'dns6');
    ifioctl(netstack(k), 'SIOCAIFADDR_IN6', { name: ifname, addr: addr6, prefixlen: 64 });
    return k;
  };
  const client = await boot('2001:db8::1');
  const ns = await boot('2001:db8::53');
  const server = startDnsServer(ns, { zone: ZONE, udp6: true });
  await sim.run(3000); // duplicate address detection
  await client.resolver.set({ nameservers: ['2001:db8::53'] });
  t.deepEqual(await drive(sim, client.dns.promises.resolve6('www.lab.example')), ['2001:db8::80']);
  t.deepEqual(await drive(sim, client.dns.promises.lookup('www.lab.example', 4)), { address: '192.0.2.80', family: 4 });
  t.deepEqual(server.log, ['udp AAAA www.lab.example', 'udp A www.lab.example']);
  server.close();
  await sim.run(1);
  await client.halt();
  await ns.halt();
});
