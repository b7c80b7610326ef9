/*
 * The routing table (NetBSD net/route.c, radix tree replaced by one hash map
 * per prefix length). Lookup is longest-prefix match: the prefix lengths in
 * use are kept sorted longest first, so a lookup probes at most one map per
 * length that actually has routes (usually three or four: /32 locals, the
 * connected nets, default).
 *
 * IPv4 addresses are unsigned 32-bit numbers.
 */
import type { Ifnet } from './interface.js';
import { Errno, EEXIST, ESRCH, EINVAL } from '../kern/errno.js';

export const RTF_UP = 0x1;
export const RTF_GATEWAY = 0x2;
export const RTF_HOST = 0x4;
export const RTF_REJECT = 0x8;
export const RTF_DYNAMIC = 0x10;
export const RTF_MODIFIED = 0x20;
export const RTF_DONE = 0x40;
export const RTF_MASK = 0x80;
export const RTF_CONNECTED = 0x100;
export const RTF_LLDATA = 0x400;
export const RTF_STATIC = 0x800;
export const RTF_BLACKHOLE = 0x1000;
export const RTF_PROTO2 = 0x4000;
export const RTF_PROTO1 = 0x8000;
export const RTF_LOCAL = 0x40000;
export const RTF_BROADCAST = 0x80000;

/** netstat -r flag letters, in NetBSD's order. */
export const RTF_LETTERS: ReadonlyArray<readonly [number, string]> = [
  [RTF_UP, 'U'], [RTF_GATEWAY, 'G'], [RTF_HOST, 'H'], [RTF_REJECT, 'R'], [RTF_DYNAMIC, 'D'],
  [RTF_MODIFIED, 'M'], [RTF_MASK, 'm'], [RTF_CONNECTED, 'C'], [RTF_LLDATA, 'L'], [RTF_STATIC, 'S'],
  [RTF_BLACKHOLE, 'B'], [RTF_PROTO2, '2'], [RTF_PROTO1, '1'], [RTF_LOCAL, 'l'], [RTF_BROADCAST, 'b'],
];

/** Names for `route get`'s flags: <UP,GATEWAY,DONE,STATIC>. */
export const RTF_NAMES: ReadonlyArray<readonly [number, string]> = [
  [RTF_UP, 'UP'], [RTF_GATEWAY, 'GATEWAY'], [RTF_HOST, 'HOST'], [RTF_REJECT, 'REJECT'],
  [RTF_DYNAMIC, 'DYNAMIC'], [RTF_MODIFIED, 'MODIFIED'], [RTF_DONE, 'DONE'], [RTF_MASK, 'MASK'],
  [RTF_CONNECTED, 'CONNECTED'], [RTF_LLDATA, 'LLDATA'], [RTF_STATIC, 'STATIC'],
  [RTF_BLACKHOLE, 'BLACKHOLE'], [RTF_PROTO2, 'PROTO2'], [RTF_PROTO1, 'PROTO1'], [RTF_LOCAL, 'LOCAL'],
  [RTF_BROADCAST, 'BROADCAST'],
];

export function prefixMask(plen: number): number {
  return plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
}

export class Rtentry {
  /** Packets sent along this route (rt_use). */
  use = 0;
  /** 0: the interface's MTU. */
  mtu = 0;
  /** Kernel uptime (ms) at which a route a redirect made goes; 0: never (rt_expire). */
  expire = 0;
  constructor(
    /** Destination, already masked. */
    readonly dst: number,
    readonly plen: number,
    /** Next hop for RTF_GATEWAY routes, else 0 (directly reachable, `link#N`). */
    public gateway: number,
    public flags: number,
    public ifp: Ifnet,
    /** Local address to send from over this route (rt_ifa). */
    public ifaddr: number,
  ) {}

  get mask(): number {
    return prefixMask(this.plen);
  }
}

/** Told of every route added (RTM_ADD, 1) or deleted (RTM_DELETE, 2): the routing socket's rt_newmsg. */
export type RouteNotify = (type: number, rt: Rtentry) => void;

export class RouteTable {
  /** Set by the routing socket (net/rtsock.ts); null: nobody listens. */
  notify: RouteNotify | null = null;
  private readonly byLen: Array<Map<number, Rtentry> | undefined> = new Array(33);
  /** Prefix lengths with routes, longest first. */
  private lens: number[] = [];
  /** Bumped on every change, so caches (PCB route caches) can tell they are stale. */
  generation = 0;

  /** Longest-prefix match (rtalloc1). */
  lookup(dst: number): Rtentry | null {
    const lens = this.lens;
    for (let i = 0; i < lens.length; i++) {
      const plen = lens[i]!;
      const rt = this.byLen[plen]!.get(plen === 0 ? 0 : (dst & (0xffffffff << (32 - plen))) >>> 0);
      if (rt) return rt;
    }
    return null;
  }

  /** The route with exactly this destination and prefix, or null. */
  exact(dst: number, plen: number): Rtentry | null {
    return this.byLen[plen]?.get((dst & prefixMask(plen)) >>> 0) ?? null;
  }

  add(rt: Rtentry): Rtentry {
    if (rt.plen < 0 || rt.plen > 32) throw new Errno(EINVAL);
    let m = this.byLen[rt.plen];
    if (!m) {
      m = new Map();
      this.byLen[rt.plen] = m;
      this.lens.push(rt.plen);
      this.lens.sort((a, b) => b - a);
    }
    if (m.has(rt.dst)) throw new Errno(EEXIST);
    m.set(rt.dst, rt);
    this.generation++;
    if (this.notify !== null) this.notify(1, rt);
    return rt;
  }

  delete(dst: number, plen: number): Rtentry {
    const m = this.byLen[plen];
    const key = (dst & prefixMask(plen)) >>> 0;
    const rt = m?.get(key);
    if (!m || !rt) throw new Errno(ESRCH);
    m.delete(key);
    if (m.size === 0) {
      this.byLen[plen] = undefined;
      this.lens = this.lens.filter((l) => l !== plen);
    }
    this.generation++;
    if (this.notify !== null) this.notify(2, rt);
    return rt;
  }

  /** Every route, ordered by destination then prefix length (netstat -r order). */
  all(): Rtentry[] {
    const out: Rtentry[] = [];
    for (const plen of this.lens) for (const rt of this.byLen[plen]!.values()) out.push(rt);
    out.sort((a, b) => (a.dst !== b.dst ? (a.dst < b.dst ? -1 : 1) : a.plen - b.plen));
    return out;
  }

  /** Remove every route through `ifp` (interface detach), or matching `pred`. */
  purge(pred: (rt: Rtentry) => boolean): Rtentry[] {
    const gone = this.all().filter(pred);
    for (const rt of gone) this.delete(rt.dst, rt.plen);
    return gone;
  }
}
