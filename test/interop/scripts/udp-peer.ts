/*
 * The rumpnet end of the UDP interop tests (udp.test.ts): a rump kernel in
 * this process whose virt0 is on a TAP device the test made, driven through
 * stdin, one JSON command a line; each reply is one JSON line on stdout.
 * Everything goes through kernel.dgram, as an application would use it.
 *
 *   udp-peer.ts TAPNAME ADDR/PREFIX [ADDR6/PREFIX]
 *     → {"event":"ready"}   once virt0 is on TAPNAME with ADDR (and ADDR6)
 *
 *   {"op":"listen","port":P,"group":G?,"family":6?}
 *     → {"event":"listening","port":P}  (udp4, or udp6 with family 6; bound
 *       with reuseAddr; G joined when given)
 *       then for every datagram {"event":"message","bytes":N,"sha256":H,"text":…,"from":A}
 *   {"op":"leave","group":G}      → {"event":"left"}
 *   {"op":"send","host":A,"port":P,"text":T?,"bytes":N?}
 *     → {"event":"sent","bytes":N,"sha256":H} (the helpers' pattern when `bytes`;
 *       udp6 when A is an IPv6 address)
 *   {"op":"stats"} → {"event":"stats","igmp":{…},"ip":{…},"virt":{…}}
 *   end of stdin → halt the kernel and exit 0
 *
 * A command that fails answers {"event":"error","code":…,"message":…}.
 */
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';

import { rumpInit } from '../../../index.js';
import { ifioctl } from '../../../net/interface_ioctl.js';
import { netstack } from '../../../net/netstack.js';
import { IN6_IFF_TENTATIVE, inet6 } from '../../../net/inet6/inet6.js';
import type { DgramSocket } from '../../../net/node/dgram.js';
import { pattern } from '../helpers.js';

const [tapName, cidr, cidr6] = process.argv.slice(2);
if (tapName === undefined || cidr === undefined || !/^[\d.]+\/\d+$/.test(cidr) || (cidr6 !== undefined && !/^[\da-f:]+\/\d+$/i.test(cidr6))) {
  process.stderr.write('usage: udp-peer.ts TAPNAME ADDR/PREFIX [ADDR6/PREFIX]\n');
  process.exit(2);
}
const [addr, prefix] = cidr.split('/') as [string, string];

const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_netinet6', 'net_virtif'], env: {} });
await k.netconfig.ifcreate('virt0');
await k.netconfig.ifsetlinkstr('virt0', tapName);
await k.netconfig.ipv4IfaddrCidr('virt0', addr, Number(prefix));
if (cidr6 !== undefined) {
  const [a6, p6] = cidr6.split('/') as [string, string];
  ifioctl(netstack(k), 'SIOCAIFADDR_IN6', { name: 'virt0', addr: a6, prefixlen: Number(p6) });
  // Ready once DAD (RFC 4862 §5.4) has passed: a tentative address is no source.
  while (inet6(k).addrs.some((ia) => ia.flags & IN6_IFF_TENTATIVE)) await new Promise((r) => setTimeout(r, 100));
}

const say = (obj: Record<string, unknown>): void => void process.stdout.write(JSON.stringify(obj) + '\n');
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
say({ event: 'ready' });

let listener: DgramSocket | null = null;
const sender = k.dgram.createSocket('udp4');
const sender6 = k.dgram.createSocket('udp6');

interface Cmd {
  op: string;
  port?: number;
  group?: string;
  host?: string;
  text?: string;
  bytes?: number;
  family?: number;
}

function fail(e: unknown): void {
  const x = e as NodeJS.ErrnoException;
  say({ event: 'error', code: x.code ?? null, message: x.message });
}

async function handle(c: Cmd): Promise<void> {
  switch (c.op) {
    case 'listen': {
      const s = k.dgram.createSocket({ type: c.family === 6 ? 'udp6' : 'udp4', reuseAddr: true });
      listener = s;
      s.on('message', (msg: Buffer, rinfo) => {
        say({ event: 'message', bytes: msg.length, sha256: sha(msg), text: msg.length <= 64 ? msg.toString() : null, from: rinfo.address });
      });
      s.on('error', fail);
      await new Promise<void>((done) => s.bind(c.port!, () => done()));
      if (c.group) s.addMembership(c.group);
      say({ event: 'listening', port: c.port });
      return;
    }
    case 'leave':
      listener!.dropMembership(c.group!);
      say({ event: 'left' });
      return;
    case 'send': {
      const data = c.bytes !== undefined ? pattern(0, (c.bytes + 3) & ~3).subarray(0, c.bytes) : Buffer.from(c.text ?? "");
      const tx = c.host!.includes(':') ? sender6 : sender;
      await new Promise<void>((done, bad) => {
        tx.send(data, c.port!, c.host!, (err: Error | null) => {
          if (err) bad(err);
          else done();
        });
      });
      say({ event: 'sent', bytes: data.length, sha256: sha(data) });
      return;
    }
    case 'stats':
      say({
        event: 'stats',
        igmp: k.sysctl.get('net.inet.igmp.stats'),
        ip: k.sysctl.get('net.inet.ip.stats'),
        virt: k.sysctl.get('net.virtif.stats'),
        ip6: k.sysctl.get('net.inet6.ip6.stats'),
        mld6: k.sysctl.get('net.inet6.mld6.stats'),
      });
      return;
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

const rl = createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on('line', (line) => {
  chain = chain.then(() => handle(JSON.parse(line) as Cmd)).catch(fail);
});
rl.on('close', () => {
  void chain.then(async () => {
    listener?.close();
    sender.close();
    sender6.close();
    await k.halt();
    process.exit(0);
  });
});
