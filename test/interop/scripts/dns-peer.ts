/*
 * A rump kernel in this process whose virt0 is on a TAP device the test
 * made, resolving names with kernel.dns against the name server the test
 * runs on Linux (dnsmasq), over its own sockets:
 *
 *   node dns-peer.ts TAPNAME ADDR/PREFIX NAMESERVER
 *
 * Prints one JSON line: what each question got (a value or an error code).
 */
import { rumpInit } from '../../../index.js';

const [tapName, cidr, nameserver] = process.argv.slice(2);
if (tapName === undefined || cidr === undefined || nameserver === undefined) {
  process.stderr.write('usage: dns-peer.ts TAPNAME ADDR/PREFIX NAMESERVER\n');
  process.exit(1);
}
const [addr, prefix] = cidr.split('/');
const k = await rumpInit({
  components: ['net', 'net_net', 'net_netinet', 'net_virtif'],
  resolvConf: `nameserver ${nameserver}\nsearch lab.example\noptions timeout:2 attempts:2\n`,
  hosts: '10.199.0.77 pinned.lab.example\n',
});
await k.netconfig.ifcreate('virt0');
await k.netconfig.ifsetlinkstr('virt0', tapName);
await k.netconfig.ipv4IfaddrCidr('virt0', addr!, Number(prefix));

const d = k.dns.promises;
const show = <T>(p: Promise<T>): Promise<T | string> => p.catch((e: { code?: string }) => `error ${e.code}`);
const out = {
  lookup: await show(d.lookup('www.lab.example')),
  lookupSearch: await show(d.lookup('www', 4)),
  lookupAll: await show(d.lookup('dual.lab.example', { all: true })),
  pinned: await show(d.lookup('pinned.lab.example')),
  resolve4: await show(d.resolve4('www.lab.example')),
  resolve6: await show(d.resolve6('dual.lab.example')),
  cname: await show(d.resolveCname('alias.lab.example')),
  viaCname: await show(d.resolve4('alias.lab.example')),
  mx: await show(d.resolveMx('lab.example')),
  txt: await show(d.resolveTxt('txt.lab.example')),
  srv: await show(d.resolveSrv('_http._tcp.lab.example')),
  ptr: await show(d.reverse('10.199.0.80')),
  big: await show(d.resolve4('big.lab.example').then((a) => a.length)),
  nxdomain: await show(d.resolve4('nowhere.lab.example')),
  lookupNx: await show(d.lookup('nowhere.lab.example')),
};
process.stdout.write(`${JSON.stringify(out)}\n`);
await k.halt();
