/*
 * IPv4 reassembly (RFC 791 §3.2 "An Example Reassembly Procedure"; NetBSD
 * netinet/ip_reass.c), as a list of fragments sorted by offset.
 *
 *   ipInput (datagram for us, MF set or offset non-zero)
 *     → ipReass: find the queue of (src, dst, id, protocol), trim overlaps
 *       against the neighbours (BSD keeps the bytes it already has), insert,
 *       and when the pieces cover [0, end of the last fragment) build the
 *       datagram in one new buffer → back to ipInput's protocol dispatch.
 *
 * Bounds: IP_MAXFRAGPACKETS datagrams at once, IP_MAXFRAGS fragments in all
 * and IP_MAXFRAGSPERPACKET per datagram; past them the fragment is dropped
 * (ipstat.fragdropped). A queue lives IPFRAGTTL (30 s, NetBSD's 60 slow
 * ticks); when it expires with fragment zero present, its sender gets ICMP
 * time exceeded, "fragment reassembly time exceeded" (RFC 1122 §3.3.2).
 * A datagram that would exceed 65535 bytes is dropped whole (ipstat.toolong).
 */
import { defineKernelState } from '../../kern/kernel.js';
import type { Callout } from '../../kern/callout.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { ICMP_TIMXCEED, ICMP_TIMXCEED_REASS } from '../wire/icmp.js';
import {
  IP_MAXPACKET, IP_MF, ipFragOffset, ipId, ipLen, ipOff, ipP, ipSetChecksum, ipSetLen, ipSetOff, ipSrc, ipDst,
} from '../wire/ipv4.js';
import { icmpError } from './icmp.js';
import { INET, type Inet } from './inet.js';

/** Lifetime of a reassembly queue, ms (NetBSD IPFRAGTTL: 60 ticks of the 2 Hz slow timer). */
export const IPFRAGTTL_MS = 30_000;
/** Datagrams being reassembled at once (NetBSD ip_maxfragpackets). */
export const IP_MAXFRAGPACKETS = 64;
/** Fragments held over all queues (NetBSD ip_maxfrags). */
export const IP_MAXFRAGS = 1024;
/** Fragments held for one datagram: 65535 bytes over a 576-byte path is about 120. */
export const IP_MAXFRAGSPERPACKET = 256;

class Frag {
  constructor(
    /** The fragment as received, still starting at its IP header. */
    readonly m: Mbuf,
    /** Byte range in the datagram this fragment still contributes (after trimming). */
    public start: number,
    readonly end: number,
    /** Where byte `start` lies in m.buf. */
    public dataAt: number,
  ) {}
}

class ReassQueue {
  readonly frags: Frag[] = [];
  /** The fragment at offset 0, whose header the datagram gets. */
  first: Frag | null = null;
  /** End of the datagram's data, known once the fragment without MF arrived; -1 before. */
  lastEnd = -1;
  readonly timer: Callout<ReassQueue>;
  constructor(
    readonly state: ReassState,
    readonly key: string,
  ) {
    this.timer = state.inet.kernel.callouts.create<ReassQueue>(reassTimeout, this);
  }
}

class ReassState {
  readonly queues = new Map<string, ReassQueue>();
  /** Fragments held, all queues. */
  nfrags = 0;
  /* The bounds, as sysctls (net.inet.ip.maxfragpackets, maxfrags, maxfragsperpacket). */
  maxfragpackets = IP_MAXFRAGPACKETS;
  maxfrags = IP_MAXFRAGS;
  maxfragsperpacket = IP_MAXFRAGSPERPACKET;
  constructor(readonly inet: Inet) {}
}

const REASS = defineKernelState('IP reassembly (component net_netinet)', (k) => new ReassState(INET.get(k)));

function reassState(inet: Inet): ReassState {
  return REASS.get(inet.kernel);
}

/**
 * The bounds as sysctls: NetBSD's net.inet.ip.maxfragpackets and maxfrags,
 * FreeBSD's maxfragsperpacket. Lowering one leaves what is queued alone;
 * the next fragment meets the new bound (drops: ipstat.fragdropped).
 */
export function ipReassSysctls(inet: Inet): void {
  const s = reassState(inet);
  const sc = inet.kernel.sysctl;
  sc.int('net.inet.ip.maxfragpackets', () => s.maxfragpackets, (v) => { s.maxfragpackets = v; }, 0, 0x7fffffff,
    'Datagrams being reassembled at once');
  sc.int('net.inet.ip.maxfrags', () => s.maxfrags, (v) => { s.maxfrags = v; }, 0, 0x7fffffff, 'Fragments held for reassembly');
  sc.int('net.inet.ip.maxfragsperpacket', () => s.maxfragsperpacket, (v) => { s.maxfragsperpacket = v; }, 1, 0x7fffffff,
    'Fragments held for one datagram');
}

function dropQueue(s: ReassState, q: ReassQueue, countDropped: boolean): void {
  const k = s.inet.kernel;
  q.timer.stop();
  for (const f of q.frags) k.mbufs.free(f.m);
  if (countDropped) s.inet.ipstat.fragdropped += q.frags.length;
  s.nfrags -= q.frags.length;
  q.frags.length = 0;
  q.first = null;
  s.queues.delete(q.key);
}

/**
 * Add a fragment of a datagram addressed to us. `m` starts at the IP header,
 * already checked and trimmed to ip_len. Owns `m`. Returns the whole
 * datagram (a new buffer, ip_off 0, ip_len its length) when this fragment
 * completed it, else null.
 */
export function ipReass(inet: Inet, m: Mbuf, hlen: number): Mbuf | null {
  const k = inet.kernel;
  const st = inet.ipstat;
  const s = reassState(inet);
  const buf = m.buf;
  const off = m.off;
  st.fragments++;
  const len = ipLen(buf, off) - hlen;
  const fo = ipFragOffset(buf, off);
  const mf = (ipOff(buf, off) & IP_MF) !== 0;
  // Every fragment but the last carries a multiple of 8 bytes (RFC 791), and none is empty.
  if (len <= 0 || (mf && (len & 7) !== 0)) {
    st.badfrags++;
    k.mbufs.free(m);
    return null;
  }
  const end = fo + len;
  const key = `${ipSrc(buf, off)},${ipDst(buf, off)},${ipId(buf, off)},${ipP(buf, off)}`;
  let q = s.queues.get(key);
  if (end + hlen > IP_MAXPACKET) {
    // The pieces would add up to more than an IP datagram can hold.
    st.toolong++;
    st.fragdropped++;
    k.mbufs.free(m);
    if (q) dropQueue(s, q, true);
    return null;
  }
  if (!q) {
    if (s.queues.size >= s.maxfragpackets || s.nfrags >= s.maxfrags) {
      st.fragdropped++;
      k.mbufs.free(m);
      return null;
    }
    q = new ReassQueue(s, key);
    s.queues.set(key, q);
    q.timer.reset(IPFRAGTTL_MS);
  } else if (q.frags.length >= s.maxfragsperpacket || s.nfrags >= s.maxfrags) {
    st.fragdropped++;
    k.mbufs.free(m);
    return null;
  }
  if (!mf) {
    if (q.lastEnd >= 0 && q.lastEnd !== end) {
      // Two different ends for one datagram: this one is a lie.
      st.badfrags++;
      k.mbufs.free(m);
      return null;
    }
    q.lastEnd = end;
  }

  // Insert, sorted by offset, trimming overlaps in favour of bytes we hold.
  const frags = q.frags;
  let i = 0;
  while (i < frags.length && frags[i]!.start <= fo) i++;
  let start = fo;
  let dataAt = off + hlen;
  if (i > 0) {
    const overlap = frags[i - 1]!.end - start;
    if (overlap > 0) {
      if (overlap >= len) {
        // Nothing new (a duplicate).
        st.fragdropped++;
        k.mbufs.free(m);
        return null;
      }
      start += overlap;
      dataAt += overlap;
    }
  }
  while (i < frags.length && frags[i]!.start < end) {
    const nx = frags[i]!;
    const overlap = end - nx.start;
    if (overlap < nx.end - nx.start) {
      nx.start += overlap;
      nx.dataAt += overlap;
      break;
    }
    // Wholly covered by the newcomer.
    frags.splice(i, 1);
    if (q.first === nx) q.first = null;
    k.mbufs.free(nx.m);
    s.nfrags--;
    st.fragdropped++;
  }
  const frag = new Frag(m, start, end, dataAt);
  frags.splice(i, 0, frag);
  s.nfrags++;
  if (start === 0) q.first = frag;

  // Complete when contiguous from 0 to the end the last fragment gave.
  if (q.lastEnd < 0 || !q.first) return null;
  let next = 0;
  for (const f of frags) {
    if (f.start > next) return null;
    if (f.end > next) next = f.end;
    if (next >= q.lastEnd) break;
  }
  if (next < q.lastEnd) return null;
  return reassemble(s, q);
}

function reassemble(s: ReassState, q: ReassQueue): Mbuf | null {
  const inet = s.inet;
  const k = inet.kernel;
  const first = q.first!;
  const fm = first.m;
  const hlen = first.dataAt - fm.off;
  const total = q.lastEnd;
  if (hlen + total > IP_MAXPACKET) {
    inet.ipstat.toolong++;
    dropQueue(s, q, true);
    return null;
  }
  const n = k.mbufs.get(hlen + total);
  if (!n) {
    dropQueue(s, q, true);
    return null;
  }
  const nb = n.buf;
  const no = n.off;
  nb.set(fm.buf.subarray(fm.off, fm.off + hlen), no);
  for (const f of q.frags) {
    if (f.start >= total) break;
    const stop = Math.min(f.end, total);
    nb.set(f.m.buf.subarray(f.dataAt, f.dataAt + (stop - f.start)), no + hlen + f.start);
  }
  ipSetLen(nb, no, hlen + total);
  ipSetOff(nb, no, 0);
  ipSetChecksum(nb, no);
  n.flags = fm.flags;
  n.rcvif = fm.rcvif;
  dropQueue(s, q, false);
  inet.ipstat.reassembled++;
  return n;
}

/** IPFRAGTTL passed: drop the queue; tell the sender if fragment zero came (RFC 1122 §3.3.2). */
function reassTimeout(q: ReassQueue): void {
  const s = q.state;
  if (s.queues.get(q.key) !== q) return;
  const inet = s.inet;
  inet.ipstat.fragtimeout += q.frags.length;
  const first = q.first;
  if (first) {
    const i = q.frags.indexOf(first);
    q.frags.splice(i, 1);
    s.nfrags--;
    icmpError(inet, first.m, ICMP_TIMXCEED, ICMP_TIMXCEED_REASS, 0);
  }
  dropQueue(s, q, false);
}

/** Free every queue (kernel halt). */
export function ipReassDrain(inet: Inet): void {
  const s = REASS.peek(inet.kernel);
  if (!s) return;
  for (const q of [...s.queues.values()]) dropQueue(s, q, false);
}

/** Datagrams and fragments being held (for tests and leak checks). */
export function ipReassCounts(inet: Inet): { queues: number; fragments: number } {
  const s = REASS.peek(inet.kernel);
  return { queues: s ? s.queues.size : 0, fragments: s ? s.nfrags : 0 };
}
