/*
 * IPv6 fragmentation and reassembly (RFC 8200 §4.5; NetBSD
 * netinet6/frag6.c and ip6_output.c's fragmenting loop).
 *
 *   out: ip6Send, a packet larger than the path MTU → ip6Fragment: the
 *        IPv6 header is the unfragmentable part (we add no extension
 *        headers); each fragment is that header (next header 44), a
 *        Fragment header (the payload's next header, offset, M, one
 *        unpredictable Identification per packet, RFC 7739) and a multiple
 *        of 8 bytes of the payload, the last with what is left.
 *   in:  ip6Deliver meets a Fragment header that is not atomic → frag6Input:
 *        find the queue of (source, destination, Identification), insert
 *        sorted by offset, and when the pieces cover [0, end of the last)
 *        build the packet in one new buffer: the first fragment's headers
 *        up to the Fragment header, with the field that named 44 now
 *        naming the fragments' next header, then the data → ip6Deliver
 *        walks it again.
 *
 * As RFC 8200 asks: a fragment whose length is not a multiple of 8 with M
 * set gets a parameter problem pointing at the payload length; one that
 * would end past 65,535 bytes a parameter problem pointing at its offset;
 * overlapping fragments drop the whole packet silently (RFC 5722); a queue
 * lives 60 s, and if its first fragment came, the source hears time
 * exceeded, "fragment reassembly time exceeded".
 *
 * Bounds as IPv4's (ip_reass.ts): IP6_MAXFRAGPACKETS packets at once,
 * IP6_MAXFRAGS fragments in all, IP6_MAXFRAGSPERPACKET each; beyond them a
 * fragment is dropped (fragoverflow).
 */
import { defineKernelState } from '../../kern/kernel.js';
import type { Callout } from '../../kern/callout.js';
import { EMSGSIZE, ENOBUFS } from '../../kern/errno.js';
import { MAX_LINKHDR, type Mbuf } from '../../kern/mbuf.js';
import { AF_INET6 } from '../../kern/sys.js';
import type { Ifnet } from '../interface.js';
import { in6Copy } from '../wire/in6addr.js';
import { ICMP6_PARAM_PROB, ICMP6_PARAMPROB_HEADER, ICMP6_TIME_EXCEEDED, ICMP6_TIME_EXCEED_REASSEMBLY } from '../wire/icmp6.js';
import { IP6_HDR_LEN, IP6_OFF_DST, IP6_OFF_SRC, IPPROTO_FRAGMENT, IPV6_MAXPACKET, ip6Plen, ip6SetPlen } from '../wire/ipv6.js';
import { icmp6Error } from './icmp6.js';
import { INET6, type Inet6 } from './inet6.js';

/** Lifetime of a reassembly queue (RFC 8200 §4.5: 60 seconds). */
export const IPV6_FRAGTTL_MS = 60_000;
export const IP6_MAXFRAGPACKETS = 64;
export const IP6_MAXFRAGS = 1024;
export const IP6_MAXFRAGSPERPACKET = 256;
/** The Fragment header: next header, reserved, offset (13 bits) << 3 | M, Identification. */
export const IP6_FRAG_LEN = 8;

class Frag6 {
  constructor(
    readonly m: Mbuf,
    readonly start: number,
    readonly end: number,
    /** Where byte `start` lies in m.buf. */
    readonly dataAt: number,
  ) {}
}

class Reass6Queue {
  readonly frags: Frag6[] = [];
  /** The fragment at offset 0, whose headers the packet gets, and where its Fragment header is. */
  first: Frag6 | null = null;
  firstFragOff = 0;
  firstNxtField = 0;
  /** The fragments' next header (from the first fragment). */
  nxt = 0;
  lastEnd = -1;
  readonly timer: Callout<Reass6Queue>;
  constructor(
    readonly state: Reass6State,
    readonly key: string,
  ) {
    this.timer = state.inet6.kernel.callouts.create<Reass6Queue>(frag6Timeout, this);
  }
}

class Reass6State {
  readonly queues = new Map<string, Reass6Queue>();
  nfrags = 0;
  /* The bounds, as sysctls (net.inet6.ip6.maxfragpackets, maxfrags, maxfragsperpacket). */
  maxfragpackets = IP6_MAXFRAGPACKETS;
  maxfrags = IP6_MAXFRAGS;
  maxfragsperpacket = IP6_MAXFRAGSPERPACKET;
  constructor(readonly inet6: Inet6) {}
}

const REASS6 = defineKernelState('IPv6 reassembly (component net_netinet6)', (k) => new Reass6State(INET6.get(k)));

function reassState(inet6: Inet6): Reass6State {
  return REASS6.get(inet6.kernel);
}

function hex(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += b[off + i]!.toString(16).padStart(2, '0');
  return s;
}

/** The bounds as sysctls: NetBSD's net.inet6.ip6.maxfragpackets and maxfrags, FreeBSD's maxfragsperpacket. */
export function frag6Sysctls(inet6: Inet6): void {
  const s = reassState(inet6);
  const sc = inet6.kernel.sysctl;
  sc.int('net.inet6.ip6.maxfragpackets', () => s.maxfragpackets, (v) => { s.maxfragpackets = v; }, 0, 0x7fffffff,
    'Packets being reassembled at once');
  sc.int('net.inet6.ip6.maxfrags', () => s.maxfrags, (v) => { s.maxfrags = v; }, 0, 0x7fffffff, 'Fragments held for reassembly');
  sc.int('net.inet6.ip6.maxfragsperpacket', () => s.maxfragsperpacket, (v) => { s.maxfragsperpacket = v; }, 1, 0x7fffffff,
    'Fragments held for one packet');
}

function dropQueue(s: Reass6State, q: Reass6Queue, countDropped: boolean): void {
  const k = s.inet6.kernel;
  q.timer.stop();
  for (const f of q.frags) k.mbufs.free(f.m);
  if (countDropped) s.inet6.ip6stat.fragdropped += q.frags.length;
  s.nfrags -= q.frags.length;
  q.frags.length = 0;
  q.first = null;
  s.queues.delete(q.key);
}

/**
 * A fragment for us: `m` starts at the IPv6 header, the Fragment header is
 * `fragOff` bytes in and was named by the byte at `nxtField`. Owns `m`.
 * Returns the whole packet (a new buffer, no Fragment header) when this one
 * completed it, else null.
 */
export function frag6Input(inet6: Inet6, m: Mbuf, fragOff: number, nxtField: number): Mbuf | null {
  const k = inet6.kernel;
  const st = inet6.ip6stat;
  const s = reassState(inet6);
  const buf = m.buf;
  const base = m.off;
  const f = base + fragOff;
  const offWord = (buf[f + 2]! << 8) | buf[f + 3]!;
  const fo = offWord & 0xfff8;
  const more = (offWord & 1) !== 0;
  const dataStart = fragOff + IP6_FRAG_LEN;
  const len = IP6_HDR_LEN + ip6Plen(buf, base) - dataStart;
  if (len < 0 || (more && len === 0)) {
    st.fragdropped++;
    k.mbufs.free(m);
    return null;
  }
  if (more && (len & 7) !== 0) {
    // §4.5: not a multiple of 8 yet not the last: point at the payload length.
    st.fragdropped++;
    icmp6Error(inet6, m, ICMP6_PARAM_PROB, ICMP6_PARAMPROB_HEADER, 4);
    return null;
  }
  const end = fo + len;
  if (fragOff - IP6_HDR_LEN + end > IPV6_MAXPACKET) {
    // §4.5: the packet would be longer than 65,535 bytes: point at the offset.
    st.fragdropped++;
    icmp6Error(inet6, m, ICMP6_PARAM_PROB, ICMP6_PARAMPROB_HEADER, fragOff + 2);
    return null;
  }
  const key = `${hex(buf, base + IP6_OFF_SRC, 16)},${hex(buf, base + IP6_OFF_DST, 16)},${hex(buf, f + 4, 4)}`;
  let q = s.queues.get(key);
  if (!q) {
    if (s.queues.size >= s.maxfragpackets || s.nfrags >= s.maxfrags) {
      st.fragoverflow++;
      k.mbufs.free(m);
      return null;
    }
    q = new Reass6Queue(s, key);
    s.queues.set(key, q);
    q.timer.reset(IPV6_FRAGTTL_MS);
  } else if (q.frags.length >= s.maxfragsperpacket || s.nfrags >= s.maxfrags) {
    st.fragoverflow++;
    k.mbufs.free(m);
    return null;
  }
  if (!more) {
    if (q.lastEnd >= 0 && q.lastEnd !== end) {
      dropQueue(s, q, true);
      st.fragdropped++;
      k.mbufs.free(m);
      return null;
    }
    q.lastEnd = end;
  }
  // Sorted by offset; any overlap drops the whole packet (RFC 5722), a
  // fragment past the end the last one gave likewise.
  const frags = q.frags;
  let i = 0;
  while (i < frags.length && frags[i]!.start < fo) i++;
  const overlaps = (i > 0 && frags[i - 1]!.end > fo) || (i < frags.length && frags[i]!.start < end) || (q.lastEnd >= 0 && end > q.lastEnd);
  if (overlaps) {
    dropQueue(s, q, true);
    st.fragdropped++;
    k.mbufs.free(m);
    return null;
  }
  const frag = new Frag6(m, fo, end, base + dataStart);
  frags.splice(i, 0, frag);
  s.nfrags++;
  if (fo === 0) {
    q.first = frag;
    q.firstFragOff = fragOff;
    q.firstNxtField = nxtField;
    q.nxt = buf[f]!;
  }
  if (q.lastEnd < 0 || q.first === null) return null;
  let next = 0;
  for (const x of frags) {
    if (x.start !== next) return null;
    next = x.end;
  }
  if (next !== q.lastEnd) return null;
  return reassemble(s, q);
}

function reassemble(s: Reass6State, q: Reass6Queue): Mbuf | null {
  const inet6 = s.inet6;
  const k = inet6.kernel;
  const fm = q.first!.m;
  const unfrag = q.firstFragOff;
  const total = q.lastEnd;
  const n = k.mbufs.get(unfrag + total);
  if (!n) {
    dropQueue(s, q, true);
    return null;
  }
  const nb = n.buf;
  const no = n.off;
  nb.set(fm.buf.subarray(fm.off, fm.off + unfrag), no);
  nb[no + q.firstNxtField] = q.nxt;
  for (const f of q.frags) nb.set(f.m.buf.subarray(f.dataAt, f.dataAt + (f.end - f.start)), no + unfrag + f.start);
  ip6SetPlen(nb, no, unfrag + total - IP6_HDR_LEN);
  n.flags = fm.flags;
  n.rcvif = fm.rcvif;
  dropQueue(s, q, false);
  inet6.ip6stat.reassembled++;
  return n;
}

/** 60 s passed: drop the queue; tell the source if the first fragment came (RFC 8200 §4.5). */
function frag6Timeout(q: Reass6Queue): void {
  const s = q.state;
  if (s.queues.get(q.key) !== q) return;
  const inet6 = s.inet6;
  inet6.ip6stat.fragtimeout += q.frags.length;
  const first = q.first;
  if (first) {
    q.frags.splice(q.frags.indexOf(first), 1);
    s.nfrags--;
    icmp6Error(inet6, first.m, ICMP6_TIME_EXCEEDED, ICMP6_TIME_EXCEED_REASSEMBLY, 0);
  }
  dropQueue(s, q, false);
}

/** Free every queue (kernel halt). */
export function frag6Drain(inet6: Inet6): void {
  const s = REASS6.peek(inet6.kernel);
  if (!s) return;
  for (const q of [...s.queues.values()]) dropQueue(s, q, false);
}

/** Packets and fragments being held (tests, leak checks). */
export function frag6Counts(inet6: Inet6): { queues: number; fragments: number } {
  const s = REASS6.peek(inet6.kernel);
  return { queues: s ? s.queues.size : 0, fragments: s ? s.nfrags : 0 };
}

/**
 * Fragment `m` (starting at its 40-byte IPv6 header, no extension
 * headers) for an MTU of `mtu` and send each piece out of `ifp` to the
 * next hop at nexthop[nhOff]. Every fragment is a new buffer. Returns 0 or
 * the first errno (ENOBUFS when a fragment could not be had: nothing is sent).
 */
export function ip6Fragment(inet6: Inet6, m: Mbuf, mtu: number, ifp: Ifnet, nexthop: Uint8Array, nhOff: number): number {
  const k = inet6.kernel;
  const st = inet6.ip6stat;
  const buf = m.buf;
  const off = m.off;
  const payload = m.len - IP6_HDR_LEN;
  const nxt = buf[off + 6]!;
  const chunk = (mtu - IP6_HDR_LEN - IP6_FRAG_LEN) & ~7;
  if (chunk < 8) {
    st.cantfrag++;
    k.mbufs.free(m);
    return EMSGSIZE;
  }
  // RFC 7739: an Identification nobody can guess.
  const id = k.host.random32() >>> 0;
  const frags: Mbuf[] = [];
  for (let pos = 0; pos < payload; pos += chunk) {
    const len = Math.min(chunk, payload - pos);
    const f = k.mbufs.get(IP6_HDR_LEN + IP6_FRAG_LEN + len, MAX_LINKHDR);
    if (!f) {
      for (const g of frags) k.mbufs.free(g);
      k.mbufs.free(m);
      st.odropped++;
      return ENOBUFS;
    }
    const fb = f.buf;
    const fo = f.off;
    fb.set(buf.subarray(off, off + IP6_HDR_LEN), fo);
    fb[fo + 6] = IPPROTO_FRAGMENT;
    ip6SetPlen(fb, fo, IP6_FRAG_LEN + len);
    const h = fo + IP6_HDR_LEN;
    fb[h] = nxt;
    fb[h + 1] = 0;
    const word = pos | (pos + len < payload ? 1 : 0);
    fb[h + 2] = word >>> 8;
    fb[h + 3] = word & 0xff;
    fb[h + 4] = id >>> 24;
    fb[h + 5] = (id >>> 16) & 0xff;
    fb[h + 6] = (id >>> 8) & 0xff;
    fb[h + 7] = id & 0xff;
    fb.set(buf.subarray(off + IP6_HDR_LEN + pos, off + IP6_HDR_LEN + pos + len), h + IP6_FRAG_LEN);
    f.flags = m.flags;
    frags.push(f);
  }
  k.mbufs.free(m);
  st.fragmented++;
  st.ofragments += frags.length;
  let err = 0;
  for (const f of frags) {
    if (err) {
      k.mbufs.free(f);
      continue;
    }
    // ifp.output reads the next hop from inet6.nexthop, synchronously.
    in6Copy(inet6.nexthop, 0, nexthop, nhOff);
    err = ifp.output(ifp, f, AF_INET6, 0);
  }
  return err;
}
