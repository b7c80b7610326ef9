/*
 * Packet buffers (NetBSD mbuf(9), flattened to one contiguous buffer).
 *
 * A packet is one Uint8Array with the data at [off, off + len). Protocols
 * prepend headers into the headroom before `off` (M_PREPEND) and strip them by
 * advancing `off` (m_adj), so a frame travels from socket to driver without
 * being concatenated or copied. Every buffer is charged to the kernel's memory
 * account (RUMP_MEMLIMIT) when allocated and released by `MbufPool.free`.
 *
 * Allocating a fresh zeroed Uint8Array per packet cost 14-24% of the CPU in
 * bulk TCP, so the pool keeps free lists of backing buffers in two sizes
 * (NetBSD's mcl pool cache and FreeBSD's jumbo clusters): 2 KiB clusters
 * for Ethernet-sized packets, 36 KiB jumbo clusters for lo0's segments (MTU
 * 33624) and stream socket buffers, which a write fills one jumbo cluster at
 * a time. A fresh 36 KiB Uint8Array costs about 3.6 µs to allocate and zero,
 * a third of what a whole segment's trip through lo0 costs otherwise.
 * `free` returns the backing, `get` hands it out again as a view of exactly
 * the requested size, zeroed like a new buffer (`copyin` and `getRaw` zero
 * only what the caller does not overwrite). Each `get` still makes a new
 * Mbuf object, so a stale reference to a freed mbuf stays freed
 * (`charged = -1`) and a second free of it is ignored rather than releasing
 * the new owner's buffer.
 */
import type { MemAccount } from './mem.js';

/** Link-level broadcast (M_BCAST). */
export const M_BCAST = 0x1;
/** Link-level multicast (M_MCAST). */
export const M_MCAST = 0x2;
/** Looped back from this host (M_LOOP). */
export const M_LOOP = 0x4;

/*
 * Checksum offload (m_pkthdr.csum_flags). A protocol that leaves a checksum
 * for "the hardware" sets a bit; ip output computes it in software unless
 * the outgoing interface takes it, which only lo0 does here: a packet that
 * never leaves the host needs no checksum, and its receiver trusts what
 * came in through lo0 (FreeBSD's and Linux's loopback, as NetBSD's with
 * its LOOPBACK_CKSUM option off).
 */
/** The TCP checksum of this IPv4 packet is still to be computed (M_CSUM_TCPv4). */
export const M_CSUM_TCPv4 = 0x1;
/**
 * This IPv4 TCP packet is larger than the MTU and the interface cuts it into
 * `segsz`-byte segments (M_CSUM_TSOv4, IFCAP_TSOv4); implies M_CSUM_TCPv4.
 */
export const M_CSUM_TSOv4 = 0x2;
/**
 * Received: the interface vouched for the TCP or UDP checksum (the host's
 * virtio-net header said NEEDS_CSUM or DATA_VALID), so input skips the sum
 * (NetBSD: M_CSUM_TCPv4 etc. on input without M_CSUM_TCP_UDP_BAD).
 */
export const M_CSUM_DATA_VALID = 0x4;
/** The TCP checksum of this IPv6 packet is left to the interface (M_CSUM_TCPv6, IFCAP_CSUM_TCPv6_Tx). */
export const M_CSUM_TCPv6 = 0x8;
/** As M_CSUM_TSOv4 for IPv6 (M_CSUM_TSOv6, IFCAP_TSOv6); implies M_CSUM_TCPv6. */
export const M_CSUM_TSOv6 = 0x10;

/**
 * max_linkhdr: room for the longest link header, Ethernet 14 plus the
 * 12-byte virtio-net header virt puts in front of a frame to a TAP
 * (NetBSD raises max_linkhdr for such drivers), rounded up. A protocol
 * asks for its own headers on top of it (IPv6 output `MAX_LINKHDR + 40`;
 * TCP_HEADROOM adds IP's 20).
 */
export const MAX_LINKHDR = 32;
/** Headroom when the caller names none: Ethernet 14 + IP 60 + TCP 60, rounded up. */
export const DEFAULT_HEADROOM = 144;

/**
 * Size of a pooled backing buffer (MCLBYTES): DEFAULT_HEADROOM + a 1514-byte
 * Ethernet frame fits; larger requests get a buffer of their own.
 */
export const MCLBYTES = 2048;
/** Idle cluster buffers kept per kernel (not charged to the memory account). */
export const MCL_POOL_MAX = 256;
/**
 * Size of a pooled jumbo cluster: TCP's headroom and a whole lo0 segment
 * (LOMTU 33624) fit, and it is the unit a stream write is copied in.
 */
export const MJUMBYTES = 36 * 1024;
/** Idle jumbo clusters kept per kernel (2.25 MiB at most). */
export const MJUM_POOL_MAX = 64;
/**
 * Size of a pooled 64 KiB cluster (FreeBSD's MJUM16BYTES plays this part):
 * a whole TSO or LRO packet, an IP datagram of up to 65,535 bytes, with
 * headroom in front. Made fresh for each, a TCP stream's 64 KB sends cost
 * a zeroed allocation apiece and the collections their garbage brings on.
 */
export const M64BYTES = 66 * 1024;
/** Idle 64 KiB clusters kept per kernel (1 MiB at most). */
export const M64_POOL_MAX = 16;
function zeroed(n: number): Uint8Array {
  return new Uint8Array(n);
}

/*
 * Mbuf's fields are declared and set in its constructor, not as class
 * fields with initializers: V8 runs those as a function of their own, one
 * more call per packet until it has optimised the constructor.
 */
export class Mbuf {
  declare buf: Uint8Array;
  declare off: number;
  declare len: number;
  /** Bytes charged to the memory account for this buffer. */
  declare charged: number;
  /** M_BCAST | M_MCAST | M_LOOP ... */
  declare flags: number;
  /** M_CSUM_TCPv4: checksums left to the interface (m_pkthdr.csum_flags). */
  declare csumFlags: number;
  /** With M_CSUM_TSOv4: the TCP payload bytes of each segment (m_pkthdr.segsz, the MSS). */
  declare segsz: number;
  /** if_index of the receiving interface (m_pkthdr.rcvif_index), 0 when locally generated. */
  declare rcvif: number;
  /** Next packet in a queue (m_nextpkt). */
  declare nextpkt: Mbuf | null;
  /** The pooled cluster `buf` is a view of, returned to the pool on free; null when `buf` is its own. */
  declare cluster: Uint8Array | null;

  constructor(buf: Uint8Array, off: number, len: number, charged: number) {
    this.buf = buf;
    this.off = off;
    this.len = len;
    this.charged = charged;
    this.flags = 0;
    this.csumFlags = 0;
    this.segsz = 0;
    this.rcvif = 0;
    this.nextpkt = null;
    this.cluster = null;
  }

  /** The data as a view (no copy). */
  data(): Uint8Array {
    return this.buf.subarray(this.off, this.off + this.len);
  }

  /** Headroom left before the data. */
  get leading(): number {
    return this.off;
  }

  /** Room left after the data. */
  get trailing(): number {
    return this.buf.length - this.off - this.len;
  }

  /**
   * Make room for `n` header bytes in front (M_PREPEND). Returns false when
   * the headroom is too small; the caller then asks the pool to `prepend`.
   */
  prepend(n: number): boolean {
    if (this.off < n) return false;
    this.off -= n;
    this.len += n;
    return true;
  }

  /** Strip `n` bytes from the front (n > 0) or the back (n < 0) (m_adj). */
  adj(n: number): void {
    if (n >= 0) {
      if (n > this.len) n = this.len;
      this.off += n;
      this.len -= n;
    } else {
      this.len = Math.max(0, this.len + n);
    }
  }
}

export interface MbufStats {
  /** Buffers handed out. */
  allocs: number;
  /** Buffers returned. */
  frees: number;
  /** Allocations refused at the memory limit. */
  drops: number;
}

export class MbufPool {
  readonly stats: MbufStats = { allocs: 0, frees: 0, drops: 0 };
  /** Idle cluster buffers (at most MCL_POOL_MAX), reused last-in first-out while still in cache. */
  private readonly clusters: Uint8Array[] = [];
  /** Idle jumbo clusters (at most MJUM_POOL_MAX). */
  private readonly jumbos: Uint8Array[] = [];
  /** Idle 64 KiB clusters (at most M64_POOL_MAX). */
  private readonly bigs: Uint8Array[] = [];

  /**
   * `fresh` makes a new backing buffer when a free list is empty. The host's
   * allocUninit skips zeroing what `alloc` zeroes or the caller overwrites
   * anyway; that matters once stream reads hand clusters over to readers
   * (net/socket.ts lendHead) and the pool keeps making new ones.
   */
  constructor(
    private readonly mem: MemAccount,
    private readonly fresh: (n: number) => Uint8Array = zeroed,
  ) {}

  /** Buffers allocated and not yet freed. */
  get inUse(): number {
    return this.stats.allocs - this.stats.frees;
  }

  /**
   * A packet buffer with `len` data bytes and `headroom` bytes in front, or
   * null when the memory limit is reached (the caller drops and counts, or
   * returns ENOBUFS).
   */
  get(len: number, headroom = DEFAULT_HEADROOM): Mbuf | null {
    return this.alloc(len, headroom, headroom + len);
  }

  /**
   * A packet buffer whose data the caller writes in full (a segment built
   * from its header and the send buffer): only the headroom and the first
   * `zeroed` data bytes are zeroed, not the payload about to be copied in.
   */
  getRaw(len: number, headroom: number, zeroed: number): Mbuf | null {
    return this.alloc(len, headroom, headroom + zeroed);
  }

  /**
   * A packet buffer holding a copy of `src[off, off+len)` behind `headroom`;
   * `user` for data a caller writes (socket sends), which leaves the memory
   * account's reserve to the packet path (kern/mem.ts).
   */
  copyin(src: Uint8Array, off: number, len: number, headroom = DEFAULT_HEADROOM, user = false): Mbuf | null {
    // Only the headroom needs zeroing: the copy overwrites the rest.
    const m = this.alloc(len, headroom, headroom, user);
    if (m) m.buf.set(src.subarray(off, off + len), headroom);
    return m;
  }

  /**
   * Charge and hand out `headroom + len` bytes, from a free list when they
   * fit a cluster or a jumbo cluster, with `[0, zeroLen)` zeroed as a new
   * Uint8Array would be (headers written field by field rely on it).
   */
  private alloc(len: number, headroom: number, zeroLen: number, user = false): Mbuf | null {
    const size = headroom + len;
    if (!this.mem.charge(size, user)) {
      this.stats.drops++;
      return null;
    }
    this.stats.allocs++;
    let cluster: Uint8Array | undefined;
    if (size <= MCLBYTES) {
      cluster = this.clusters.pop();
      if (cluster === undefined) cluster = this.fresh(MCLBYTES);
      if (zeroLen > 0) cluster.fill(0, 0, zeroLen);
    } else if (size <= MJUMBYTES) {
      cluster = this.jumbos.pop();
      if (cluster === undefined) cluster = this.fresh(MJUMBYTES);
      if (zeroLen > 0) cluster.fill(0, 0, zeroLen);
    } else if (size <= M64BYTES) {
      cluster = this.bigs.pop();
      if (cluster === undefined) cluster = this.fresh(M64BYTES);
      if (zeroLen > 0) cluster.fill(0, 0, zeroLen);
    } else {
      return new Mbuf(new Uint8Array(size), headroom, len, size);
    }
    // A view of exactly `size` bytes, so buf.length and `trailing` are as before.
    const m = new Mbuf(cluster.subarray(0, size), headroom, len, size);
    m.cluster = cluster;
    return m;
  }

  /** Idle cluster buffers waiting for reuse. */
  get idleClusters(): number {
    return this.clusters.length;
  }

  /** Idle jumbo clusters waiting for reuse. */
  get idleJumbos(): number {
    return this.jumbos.length;
  }

  /** Idle 64 KiB clusters waiting for reuse. */
  get idleBigs(): number {
    return this.bigs.length;
  }

  /** Copy a packet (m_dup), with fresh headroom. */
  dup(m: Mbuf, headroom = DEFAULT_HEADROOM): Mbuf | null {
    const n = this.copyin(m.buf, m.off, m.len, headroom);
    if (n) {
      n.flags = m.flags;
      n.csumFlags = m.csumFlags;
      n.segsz = m.segsz;
      n.rcvif = m.rcvif;
    }
    return n;
  }

  /**
   * Prepend `n` bytes when the headroom is too small: moves the packet into a
   * larger buffer (the slow path of M_PREPEND). Returns null at the memory
   * limit, having freed `m`.
   */
  prepend(m: Mbuf, n: number): Mbuf | null {
    if (m.prepend(n)) return m;
    const r = this.get(m.len + n, DEFAULT_HEADROOM);
    if (!r) {
      this.free(m);
      return null;
    }
    r.buf.set(m.buf.subarray(m.off, m.off + m.len), r.off + n);
    r.flags = m.flags;
    r.csumFlags = m.csumFlags;
    r.segsz = m.segsz;
    r.rcvif = m.rcvif;
    this.free(m);
    return r;
  }

  /** Return a packet's memory (m_freem). */
  free(m: Mbuf): void {
    if (m.charged < 0) return; // freed twice: ignore rather than corrupt the account
    this.mem.release(m.charged);
    m.charged = -1;
    this.stats.frees++;
    const cluster = m.cluster;
    if (cluster !== null) {
      m.cluster = null;
      if (cluster.length === MCLBYTES) {
        if (this.clusters.length < MCL_POOL_MAX) this.clusters.push(cluster);
      } else if (cluster.length === MJUMBYTES) {
        if (this.jumbos.length < MJUM_POOL_MAX) this.jumbos.push(cluster);
      } else if (this.bigs.length < M64_POOL_MAX) {
        this.bigs.push(cluster);
      }
    }
  }
}
