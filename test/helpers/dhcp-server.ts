/*
 * A DHCP server for tests (RFC 2131, the parts a client meets), on a rump
 * kernel's own UDP socket: offers 192.0.2.50 from 192.0.2.1 with a router,
 * two DNS servers and a domain; knobs for silence, NAKs and hostile
 * replies. `lan()` puts it and a client kernel (shmif0, no address) on one
 * shmif bus of a sim host.
 */
import { createSimHost, rumpInit, AF_INET, SOCK_DGRAM, type RumpKernel, type SimHost } from '../../index.js';
import { SOL_SOCKET, SO_BROADCAST } from '../../net/socket.js';
import { IP_MULTICAST_IF } from '../../net/inet/ip_mopts.js';
import { IPPROTO_IP } from '../../net/wire/ipv4.js';
import { simKernel } from '../node/helpers.js';

const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
export const quad = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
export const num = (s: string): number => s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);

/** A request as the server sees it. */
export interface Seen {
  t: number;
  type: number;
  xid: number;
  ciaddr: number;
  flags: number;
  requested: number | null;
  serverId: number | null;
  to: string;
}

function parseRequest(b: Uint8Array): Omit<Seen, 't' | 'to'> & { chaddr: Uint8Array } {
  const r = { type: 0, xid: u32(b, 4), ciaddr: u32(b, 12), flags: (b[10]! << 8) | b[11]!, requested: null as number | null, serverId: null as number | null, chaddr: b.slice(28, 34) };
  let o = 240;
  while (o < b.length && b[o] !== 255) {
    if (b[o] === 0) {
      o++;
      continue;
    }
    const code = b[o]!;
    const len = b[o + 1]!;
    if (code === 53) r.type = b[o + 2]!;
    if (code === 50) r.requested = u32(b, o + 2);
    if (code === 54) r.serverId = u32(b, o + 2);
    o += 2 + len;
  }
  return r;
}

export interface ReplyOpts {
  type: number;
  xid: number;
  chaddr: Uint8Array;
  yiaddr: number;
  lease?: number | null;
  serverId?: number | null;
  /** Raw option bytes appended before End (a hostile reply's). */
  extra?: number[];
  /** Cut the message here (a truncated reply). */
  cut?: number;
}

export const SERVER = num('192.0.2.1');
export const OFFERED = num('192.0.2.50');

export function buildReply(o: ReplyOpts): Uint8Array {
  const b = new Uint8Array(300);
  b[0] = 2;
  b[1] = 1;
  b[2] = 6;
  const put = (off: number, v: number): void => {
    b[off] = v >>> 24;
    b[off + 1] = (v >>> 16) & 255;
    b[off + 2] = (v >>> 8) & 255;
    b[off + 3] = v & 255;
  };
  put(4, o.xid);
  b[10] = 0x80;
  put(16, o.yiaddr);
  b.set(o.chaddr, 28);
  put(236, 0x63825363);
  const opts: number[] = [53, 1, o.type];
  const a32 = (v: number): number[] => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  if (o.serverId !== null) opts.push(54, 4, ...a32(o.serverId ?? SERVER));
  if (o.lease !== null) opts.push(51, 4, ...a32(o.lease ?? 3600));
  opts.push(1, 4, 255, 255, 255, 0);
  opts.push(3, 4, ...a32(num('192.0.2.254')));
  opts.push(6, 8, ...a32(num('192.0.2.53')), ...a32(num('192.0.2.54')));
  const dom = [...'lab.example'].map((c) => c.charCodeAt(0));
  opts.push(15, dom.length, ...dom);
  if (o.extra) opts.push(...o.extra);
  opts.push(255);
  b.set(opts, 240);
  return o.cut !== undefined ? b.subarray(0, o.cut) : b;
}

/**
 * The server: answers DISCOVER with an OFFER of 192.0.2.50 and REQUEST with
 * an ACK (broadcast while the client has no address, unicast to ciaddr when
 * renewing), as `behave` allows. Records what it saw with the time.
 */
export class Server {
  seen: Seen[] = [];
  /** Requests to ignore (retransmission tests), by type. */
  ignore = new Map<number, number>();
  lease = 3600;
  nak = false;
  /** Sent before each genuine OFFER (hostile tests). */
  hostile: (x: { xid: number; chaddr: Uint8Array }) => Uint8Array[] = () => [];
  fd = -1;
  constructor(
    readonly sim: SimHost,
    readonly k: RumpKernel,
  ) {}

  async start(): Promise<void> {
    const sys = this.k.sys;
    this.fd = await sys.socket(AF_INET, SOCK_DGRAM, 0);
    await sys.setsockopt(this.fd, SOL_SOCKET, SO_BROADCAST, 1);
    await sys.setsockopt(this.fd, IPPROTO_IP, IP_MULTICAST_IF, { addr: '192.0.2.1' });
    await sys.bind(this.fd, { family: AF_INET, addr: '0.0.0.0', port: 67 });
    void this.loop();
  }

  private async loop(): Promise<void> {
    const sys = this.k.sys;
    for (;;) {
      let got;
      try {
        got = await sys.recvfrom(this.fd, 1500);
      } catch {
        return;
      }
      const r = parseRequest(got.data);
      this.seen.push({ t: this.sim.now(), type: r.type, xid: r.xid, ciaddr: r.ciaddr, flags: r.flags, requested: r.requested, serverId: r.serverId, to: got.from!.addr });
      const skip = this.ignore.get(r.type) ?? 0;
      if (skip > 0) {
        this.ignore.set(r.type, skip - 1);
        continue;
      }
      const to = r.ciaddr !== 0 && !(r.flags & 0x8000) ? quad(r.ciaddr) : '255.255.255.255';
      const send = (b: Uint8Array): Promise<number> => sys.sendto(this.fd, b, 0, { family: AF_INET, addr: to, port: 68 });
      if (r.type === 1) {
        for (const h of this.hostile({ xid: r.xid, chaddr: r.chaddr })) await send(h);
        await send(buildReply({ type: 2, xid: r.xid, chaddr: r.chaddr, yiaddr: OFFERED, lease: this.lease }));
      } else if (r.type === 3) {
        await send(buildReply({ type: this.nak ? 6 : 5, xid: r.xid, chaddr: r.chaddr, yiaddr: this.nak ? 0 : OFFERED, lease: this.lease }));
      }
    }
  }

  types(): number[] {
    return this.seen.map((s) => s.type);
  }
}

export async function lan(seed = 1): Promise<{ sim: SimHost; s: RumpKernel; c: RumpKernel; srv: Server }> {
  const sim = createSimHost({ seed });
  const s = await simKernel(sim, 'bus1', '192.0.2.1');
  const c = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_shmif'], host: sim });
  await c.netconfig.ifcreate('shmif0');
  await c.netconfig.ifsetlinkstr('shmif0', 'bus1');
  const srv = new Server(sim, s);
  await srv.start();
  return { sim, s, c, srv };
}

export async function dhcpStats(k: RumpKernel): Promise<Record<string, number>> {
  return (await k.sys.sysctl('net.inet.dhcp.stats')) as Record<string, number>;
}

export async function addrs(k: RumpKernel): Promise<string[]> {
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  const conf = (await k.sys.ioctl(fd, 'SIOCGIFCONF', { name: 'shmif0' })) as Array<{ inet: Array<{ addr: string; prefixLen?: number }> }>;
  await k.sys.close(fd);
  return conf[0]!.inet.map((a) => a.addr);
}

