/*
 * The shmif interface driver (NetBSD sys/rump/net/lib/libshmif/if_shmem.c):
 * an Ethernet interface whose wire is a bus file shared with other kernels,
 * in this process or others.
 *
 *   ifconfig shmif0 create        cloner: MAC b2:a0:xx:xx:xx:xx, new every create
 *   ifconfig shmif0 linkstr bus1  map and attach the bus (EBUSY if up or attached)
 *   ifconfig shmif0 up            ENXIO without a bus; start reading at the newest record
 *
 * Transmit writes each frame into the ring under the bus lock at once and
 * wakes the readers right away: the host coalesces wake-ups (a reader is
 * queued once however many frames arrive before it runs, and the wake-up
 * file write other processes watch goes once per turn of the event loop,
 * as NetBSD's shmif_start does one after its queue drains). Waking at once rather than
 * from a deferred call saves a softint per hop: a frame reaches the reader
 * on the next one (bus wake-ups run as microtasks on the node host), which
 * is what a connect, an echo and a close mostly wait for.
 *
 * Receive runs when woken (the host already defers the call): a lock-free
 * look at the bus header first, since most wake-ups in one process echo a
 * write we have already read (the wake-up file write comes back through
 * inotify); then drain every new record, copy each frame into a packet
 * buffer, and hand them to ether input after the lock is released.
 *
 * TCP segmentation and receive coalescing are done here in software
 * (SHMIF_CAPS): a TCP packet of up to 64 KB is cut into frames on its way
 * onto the bus, and consecutive segments of a connection read in one poll
 * are joined into one packet on their way up.
 */
import { defineState, type Kernel } from '../kern/kernel.js';
import type { Mbuf } from '../kern/mbuf.js';
import { Errno, EBUSY, EINVAL, EIO, ENXIO, ENOEXEC, EOPNOTSUPP, errnoByName } from '../kern/errno.js';
import type { BusMapping } from '../hypercall/types.js';
import { Ifnet, IFCAP_LRO, IFCAP_TSOv4, IFF_BROADCAST, IFF_MULTICAST, IFF_SIMPLEX, IFF_UP, IFT_ETHER, type IfDriver, type IfTable } from '../net/interface.js';
import { etherIfattach, etherMulticastAccept, etherMultiIoctl, randomMac } from '../net/if/ether.js';
import type { NetStack } from '../net/netstack.js';
import { DEFAULT_HEADROOM, M64BYTES, M_CSUM_DATA_VALID, M_CSUM_TSOv4 } from '../kern/mbuf.js';
import { cksumAdd, cksumFinish, pseudoHeaderSum } from '../net/wire/cksum.js';
import { INET } from '../net/inet/inet.js';
import { ETHER_HDR_LEN, macEquals } from '../net/wire/ether.js';
import { IPPROTO_TCP, ipDst, ipHdrSum20, ipId, ipSetChecksum, ipSetLen, ipSrc } from '../net/wire/ipv4.js';
import { TH_ACK, TH_CWR, TH_FIN, TH_PUSH, tcpSeq, tcpSetAck, tcpSetWin } from '../net/wire/tcp.js';
import { BUS_OFF_VERSION, BUS_SIZE, BusReader, BusWriter, HOST_LITTLE_ENDIAN, MAX_FRAME, SHMIF_VERSION, busAttach, getU32 } from './bus.js';

/**
 * Offloads done in software by the driver (NetBSD's shmif has none; see
 * transmitTso and ShmifLro): TCP segmentation and receive coalescing. On by
 * default, `ifconfig shmif0 -tso4 -lro` switches them off; the frames on
 * the bus are the same either way. They, not a larger MTU, are how bulk
 * TCP gets fewer trips through the stack: NetBSD's shmif_rcv reads each
 * record into one 2 KiB cluster and asserts sp_len <= ETHERMTU +
 * ETHER_HDR_LEN, so a NetBSD kernel on the bus takes no longer frame.
 */
export const SHMIF_CAPS = IFCAP_TSOv4 | IFCAP_LRO;

/** Counters of one shmif interface beyond if_data (netstat -s "shmif:"). */
export class ShmifStats {
  /** Frames lost because readers lapped us (lower bound). */
  lost = 0;
  laps = 0;
  /** Frames refused by the bus writer (too long, lock not taken). */
  txrefused = 0;
  /** Received frames dropped for lack of memory. */
  rxnobufs = 0;
  /** Multicast frames for groups nobody joined, left on the bus as a NIC's filter would. */
  rxmcastfiltered = 0;
  /** TCP packets larger than the MTU cut into frames here (software TSO). */
  txtso = 0;
  /** Received TCP segments added to the one before them (LRO). */
  rxlro = 0;
}

/** The IP and TCP header words of an LRO segment: no IP options, none or only timestamps in TCP. */
const LRO_TS_OPT = 0x0101080a;

/**
 * Large receive offload in software (NetBSD and FreeBSD's tcp_lro): of the
 * frames one poll reads from the bus, consecutive in-order TCP/IPv4 data
 * segments of one connection go up as one packet, so IP and TCP input, the
 * socket buffer and the ACK run once for them all (TCP ACKs a packet longer
 * than its MSS at once). Only what tcp_lro takes: unicast to us, IPv4
 * without options or fragments, TCP with only ACK (and PSH, which ends a
 * packet) and no options or only timestamps laid out as RFC 7323 appendix
 * A has them, the checksums right, the same TOS, the sequence number next,
 * ACK and timestamp not going back. The merged packet carries the newest
 * segment's ACK, window and timestamps. Anything else is passed up as it
 * came and ends the packet before it, so order is kept.
 */
class ShmifLro {
  /** The packet being added to (the last one queued), or null. */
  head: Mbuf | null = null;
  /** Segments in it. */
  segs = 0;
  /** check(): whether the frame is a segment LRO takes, and its fields. */
  valid = false;
  hlen = 0;
  tlen = 0;
  private src = 0;
  private dst = 0;
  private ports = 0;
  private tos = 0;
  private seq = 0;
  private ack = 0;
  private win = 0;
  private flags = 0;
  private tsval = 0;
  private tsecr = 0;
  // The head's: what the next segment must continue.
  private hSrc = 0;
  private hDst = 0;
  private hPorts = 0;
  private hTos = 0;
  private hHlen = 0;
  private hNext = 0;
  private hAck = 0;
  private hTsval = 0;
  private hWin = 0;
  private hFlags = 0;
  private hTsecr = 0;

  /** Whether the frame `b[off, off+len)` is a segment LRO takes (see the class); sets the fields. */
  check(b: Uint8Array, off: number, len: number, mac: Uint8Array): boolean {
    this.valid = false;
    const ip = off + ETHER_HDR_LEN;
    if (len < ETHER_HDR_LEN + 40 || b[off + 12] !== 0x08 || b[off + 13] !== 0x00 || b[ip] !== 0x45 || b[ip + 9] !== IPPROTO_TCP) return false;
    const tl = (b[ip + 2]! << 8) | b[ip + 3]!;
    if (tl !== len - ETHER_HDR_LEN || ((b[ip + 6]! << 8) | b[ip + 7]!) & 0x3fff || !macEquals(b, off, mac, 0)) return false;
    const th = ip + 20;
    const thl = (b[th + 12]! >>> 4) << 2;
    const flags = b[th + 13]!;
    if ((b[th + 12]! & 0x0f) !== 0 || (flags & ~TH_PUSH) !== TH_ACK) return false;
    const tlen = tl - 20 - thl;
    if (tlen <= 0) return false;
    let tsval = 0;
    let tsecr = 0;
    if (thl === 32 && tcpRead32(b, th + 20) === LRO_TS_OPT) {
      tsval = tcpRead32(b, th + 24);
      tsecr = tcpRead32(b, th + 28);
    } else if (thl !== 20) {
      return false;
    }
    if (ipHdrSum20(b, ip) !== 0xffff) return false;
    const src = ipSrc(b, ip);
    const dst = ipDst(b, ip);
    // A bad sum is left for TCP input to find and count.
    if (cksumFinish(cksumAdd(pseudoHeaderSum(src, dst, IPPROTO_TCP, tl - 20), b, th, tl - 20)) !== 0) return false;
    this.src = src;
    this.dst = dst;
    this.ports = tcpRead32(b, th);
    this.tos = b[ip + 1]!;
    this.seq = tcpRead32(b, th + 4);
    this.ack = tcpRead32(b, th + 8);
    this.win = (b[th + 14]! << 8) | b[th + 15]!;
    this.flags = flags;
    this.tsval = tsval;
    this.tsecr = tsecr;
    this.hlen = 20 + thl;
    this.tlen = tlen;
    this.valid = true;
    return true;
  }

  /** The checked segment starts a packet (`m`, just queued). */
  start(m: Mbuf): void {
    this.head = m;
    this.segs = 1;
    this.hSrc = this.src;
    this.hDst = this.dst;
    this.hPorts = this.ports;
    this.hTos = this.tos;
    this.hHlen = this.hlen;
    this.merged();
  }

  /** Whether the checked segment continues the head packet. */
  follows(): boolean {
    return this.src === this.hSrc && this.dst === this.hDst && this.ports === this.hPorts && this.tos === this.hTos &&
      this.hlen === this.hHlen && this.seq === this.hNext && !(this.hFlags & TH_PUSH) && this.segs < LRO_MAX_SEGS &&
      ((this.ack - this.hAck) | 0) >= 0 && ((this.tsval - this.hTsval) | 0) >= 0;
  }

  /** The checked segment is now part of the head packet. */
  merged(): void {
    this.hNext = (this.seq + this.tlen) >>> 0;
    this.hAck = this.ack;
    this.hWin = this.win;
    this.hFlags = this.flags;
    this.hTsval = this.tsval;
    this.hTsecr = this.tsecr;
  }

  /** Write the merged packet's IP length and checksum, and the newest TCP ACK, window, flags and timestamps. */
  finish(m: Mbuf): void {
    const b = m.buf;
    const ip = m.off + ETHER_HDR_LEN;
    const th = ip + 20;
    ipSetLen(b, ip, m.len - ETHER_HDR_LEN);
    ipSetChecksum(b, ip);
    tcpSetAck(b, th, this.hAck);
    tcpSetWin(b, th, this.hWin);
    b[th + 13] = this.hFlags;
    if (this.hHlen === 32) {
      tcpWrite32(b, th + 24, this.hTsval);
      tcpWrite32(b, th + 28, this.hTsecr);
    }
  }
}

/**
 * The buffer an LRO packet is gathered in: a 64 KiB cluster, so 45
 * segments of 1,448 bytes make one packet and one ACK; its IP length stays
 * below 65,536 (lroAppend checks it).
 */
const LRO_BUF = M64BYTES;
/**
 * Segments in one LRO packet at most (Linux's GRO stops at 64 too). More
 * than the 45 of a whole TSO packet of ours (TCP_TSO_MAX over a 1,448-byte
 * MSS): at 44 the last segment of every such packet went up alone and
 * earned an ACK of its own, and the sender, clocked by those ACKs, went on
 * cutting its sends at the same odd places.
 */
const LRO_MAX_SEGS = 64;

function tcpRead32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function tcpWrite32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

export class ShmifSoftc {
  map: BusMapping | null = null;
  writer: BusWriter | null = null;
  reader: BusReader | null = null;
  unwatch: (() => void) | null = null;
  readonly senderLo: number;
  readonly senderHi: number;
  /** A receive is queued on the softint (rxPending) or running (inRx). */
  rxPending = false;
  private inRx = false;
  readonly stats = new ShmifStats();
  /** Frames copied out of the ring during one poll, handed to ether input after it. */
  private readonly rxq: Mbuf[] = [];
  /** The receive side's segment coalescing (deliver), and whether it is on for this poll. */
  private readonly lro = new ShmifLro();
  private lroOn = false;
  /** One cut segment's Ethernet, IP and TCP headers (transmitTso). */
  private readonly segHdr = new Uint8Array(ETHER_HDR_LEN + 60 + 60);
  private readonly deliverFn: (buf: Uint8Array, off: number, len: number) => void;
  private readonly wakeFn: () => void;

  constructor(readonly kernel: Kernel, public ifp: Ifnet | null) {
    this.senderLo = kernel.host.random32();
    this.senderHi = kernel.host.random32();
    // Bound once: no closure per frame.
    this.deliverFn = (buf, off, len) => this.deliver(buf, off, len);
    this.wakeFn = () => this.onWake();
  }

  /** SIOCSLINKSTR: map the bus at `path` and attach to it. */
  attachBus(path: string): void {
    const host = this.kernel.host;
    let map: BusMapping;
    try {
      map = host.mapBus(path, BUS_SIZE);
    } catch (e) {
      const code = (e as { code?: string }).code;
      const errno = (code && errnoByName(code)) || EIO;
      // A host error without an errno name (the addon failing to load, say) keeps its words.
      throw new Errno(errno, undefined, errno === EIO ? `${path}: ${(e as Error).message}` : path);
    }
    try {
      busAttach(map);
    } catch (e) {
      map.close();
      const code = (e as { code?: string }).code;
      if (code === 'ENOEXEC') throw new Errno(ENOEXEC, undefined, `${path}: bus is not magical`);
      throw e;
    }
    this.map = map;
    this.writer = new BusWriter(map, this.senderLo, this.senderHi);
    this.reader = new BusReader(map);
  }

  detachBus(): void {
    this.stopReading();
    this.map?.close();
    this.map = null;
    this.writer = null;
    this.reader = null;
  }

  startReading(): void {
    const map = this.map!;
    this.reader!.sync();
    this.unwatch = map.watch(this.wakeFn);
    // Frames written between sync and watch would otherwise wait for the next wake-up.
    this.scheduleRx();
  }

  stopReading(): void {
    this.unwatch?.();
    this.unwatch = null;
  }

  transmit(m: Mbuf): void {
    const w = this.writer;
    const ifp = this.ifp!;
    const k = this.kernel;
    if (!w) {
      ifp.stats.oerrors++;
      k.mbufs.free(m);
      return;
    }
    const up = k.uptime();
    const sec = Math.floor(up / 1000);
    const usec = Math.floor((up - sec * 1000) * 1000);
    const ok = m.csumFlags & M_CSUM_TSOv4 && m.len > MAX_FRAME ? this.transmitTso(m, w, sec, usec) : w.writeFrame(m.buf, m.off, m.len, sec, usec);
    if (!ok) {
      ifp.stats.oerrors++;
      this.stats.txrefused++;
    }
    k.mbufs.free(m);
    this.wakeReaders();
  }

  /**
   * TSO in software (IFCAP_TSOv4; NetBSD's tcp4_segment does the same for
   * an interface without it): `m` is one TCP/IPv4 packet larger than the
   * MTU; cut it into m.segsz-byte segments, each with a copy of its headers
   * (IP length, an ID per segment, the IP checksum; TCP sequence number,
   * FIN and PSH only on the last, CWR only on the first, the checksum),
   * written straight into the ring from the packet's data under one taking
   * of the lock. The bus sees ordinary frames of at most MAX_FRAME bytes,
   * as a NetBSD reader expects; what TCP, IP and Ethernet output do once
   * per segment is done once per packet. False (nothing written) for a
   * packet that is not such a segment, or when the lock stayed held.
   */
  private transmitTso(m: Mbuf, w: BusWriter, sec: number, usec: number): boolean {
    const b = m.buf;
    const o = m.off;
    const ip = o + ETHER_HDR_LEN;
    const ihl = (b[ip]! & 0x0f) << 2;
    const th = ip + ihl;
    const thl = (b[th + 12]! >>> 4) << 2;
    const hl = ETHER_HDR_LEN + ihl + thl;
    const segsz = m.segsz;
    if (b[ip]! >>> 4 !== 4 || b[ip + 9] !== IPPROTO_TCP || ihl < 20 || thl < 20 || hl >= m.len || !(segsz > 0) || hl + segsz > MAX_FRAME) return false;
    // The headers as a view of exactly their length: the ring takes it whole, with no view per frame.
    const h = this.segHdr.subarray(0, hl);
    h.set(b.subarray(o, o + hl), 0);
    const hip = ETHER_HDR_LEN;
    const hth = hip + ihl;
    const id0 = ipId(h, hip);
    const seq0 = tcpSeq(h, hth);
    const flags0 = h[hth + 13]!;
    const src = ipSrc(h, hip);
    const dst = ipDst(h, hip);
    const start = o + hl;
    const end = o + m.len;
    // The header words that differ between segments (IP length, ID and
    // checksum; TCP sequence number, flags and checksum) are zeroed and the
    // rest summed once per packet, with the pseudo header's fixed part; each
    // segment adds its own words to those sums (RFC 1071 §2(B): the sum
    // does not care in which order words are added), and only its payload
    // is summed afresh.
    h[hip + 2] = h[hip + 3] = h[hip + 4] = h[hip + 5] = h[hip + 10] = h[hip + 11] = 0;
    h[hth + 4] = h[hth + 5] = h[hth + 6] = h[hth + 7] = h[hth + 13] = h[hth + 16] = h[hth + 17] = 0;
    const ipBase = cksumAdd(0, h, hip, ihl);
    const tcpBase = cksumAdd(pseudoHeaderSum(src, dst, IPPROTO_TCP, 0), h, hth, thl);
    if (!w.lock()) return false;
    let frames = 0;
    try {
      for (let data = start; data < end; data += segsz) {
        const n = end - data < segsz ? end - data : segsz;
        const len = ihl + thl + n;
        const id = (id0 + frames) & 0xffff;
        let sum = ipBase + len + id;
        sum = (sum & 0xffff) + (sum >>> 16);
        sum = ~((sum & 0xffff) + (sum >>> 16)) & 0xffff;
        h[hip + 2] = len >>> 8;
        h[hip + 3] = len;
        h[hip + 4] = id >>> 8;
        h[hip + 5] = id;
        h[hip + 10] = sum >>> 8;
        h[hip + 11] = sum;
        const seq = (seq0 + (data - start)) >>> 0;
        let flags = flags0;
        if (data + n < end) flags &= ~(TH_FIN | TH_PUSH);
        if (frames > 0) flags &= ~TH_CWR;
        h[hth + 4] = seq >>> 24;
        h[hth + 5] = seq >>> 16;
        h[hth + 6] = seq >>> 8;
        h[hth + 7] = seq;
        h[hth + 13] = flags;
        // The flags are the low byte of the word at hth + 12; the TCP length is the pseudo header's.
        // cksumAdd's sum comes folded: its complement is the checksum (cksumFinish).
        sum = ~cksumAdd(tcpBase + (thl + n) + (seq >>> 16) + (seq & 0xffff) + flags, b, data, n) & 0xffff;
        h[hth + 16] = sum >>> 8;
        h[hth + 17] = sum;
        if (!w.putv(h, 0, hl, b, data, n, sec, usec)) break;
        frames++;
      }
    } finally {
      w.unlock();
    }
    // ether output counted one packet of m.len bytes; the bus carries these.
    const ifp = this.ifp!;
    ifp.stats.opackets += frames - 1;
    ifp.stats.obytes += (frames - 1) * hl;
    this.stats.txtso++;
    return frames > 0;
  }

  /**
   * busWakeup for one frame, cheaply: the version word reads 3 once anything
   * was sent (as NetBSD's wake-up write leaves it; dumpbus checks it), and
   * the host wakes the other readers, coalescing as described above.
   */
  private wakeReaders(): void {
    const map = this.map!;
    if (getU32(map.bytes, BUS_OFF_VERSION, HOST_LITTLE_ENDIAN) !== SHMIF_VERSION) map.store32(BUS_OFF_VERSION, SHMIF_VERSION);
    map.wakeup();
  }

  /**
   * The bus woke us. The host runs this deferred, so receive now, unless a
   * receive is already running (a host that wakes synchronously) or queued.
   */
  private onWake(): void {
    if (this.inRx || this.rxPending) {
      this.scheduleRx();
      return;
    }
    const r = this.reader;
    // Nothing written since our last poll: an echo of a wake-up we have seen.
    if (r !== null && !r.mayHaveNew()) return;
    this.receive();
  }

  /** Receive on the next softint (coalesced). */
  private scheduleRx(): void {
    if (!this.rxPending) {
      this.rxPending = true;
      this.kernel.host.defer(shmifRx, this);
    }
  }

  private deliver(buf: Uint8Array, off: number, len: number): void {
    const ifp = this.ifp!;
    // Everything on the bus reaches every reader: our multicast filter decides (before the copy).
    if (len >= 6 && buf[off]! & 1 && !etherMulticastAccept(ifp, buf, off)) {
      this.stats.rxmcastfiltered++;
      return;
    }
    // LRO: a TCP segment that continues the one before it joins it.
    const lro = this.lro;
    if (this.lroOn && lro.check(buf, off, len, ifp.lladdr!)) {
      if (lro.head !== null && lro.follows() && this.lroAppend(buf, off)) return;
      this.lroFlush();
    } else {
      this.lroFlush();
      lro.valid = false;
    }
    const m = this.kernel.mbufs.copyin(buf, off, len);
    if (!m) {
      this.stats.rxnobufs++;
      ifp.stats.iqdrops++;
      return;
    }
    if (lro.valid) {
      // Its checksum was verified on the way (TCP input need not again),
      // and the next segment of its connection may join it.
      m.csumFlags = M_CSUM_DATA_VALID;
      lro.start(m);
    }
    this.rxq.push(m);
  }

  /**
   * Add the segment just checked to the packet lro.head (the last one
   * queued), moving that into a jumbo cluster first when it is still the
   * copy of a single frame. False when there is no room (or no memory):
   * the segment starts a packet of its own.
   */
  private lroAppend(buf: Uint8Array, off: number): boolean {
    const lro = this.lro;
    let head = lro.head!;
    const n = lro.tlen;
    if (lro.segs === 1) {
      const pool = this.kernel.mbufs;
      const big = pool.getRaw(LRO_BUF - DEFAULT_HEADROOM, DEFAULT_HEADROOM, 0);
      if (big === null) return false;
      big.buf.set(head.buf.subarray(head.off, head.off + head.len), big.off);
      big.len = head.len;
      big.csumFlags = head.csumFlags;
      pool.free(head);
      this.rxq[this.rxq.length - 1] = big;
      lro.head = head = big;
    }
    if (head.trailing < n || head.len - ETHER_HDR_LEN + n > 65535) return false;
    const data = off + ETHER_HDR_LEN + lro.hlen;
    head.buf.set(buf.subarray(data, data + n), head.off + head.len);
    head.len += n;
    lro.segs++;
    lro.merged();
    this.stats.rxlro++;
    return true;
  }

  /** Write the merged packet's headers (lengths, the newest ACK, window, timestamps, PSH) and stop adding to it. */
  private lroFlush(): void {
    const lro = this.lro;
    const head = lro.head;
    if (head === null) return;
    lro.head = null;
    if (lro.segs > 1) lro.finish(head);
  }

  /** Drain the bus into ether input. */
  receive(): void {
    this.rxPending = false;
    const r = this.reader;
    const ifp = this.ifp;
    if (!r || !ifp || !(ifp.flags & IFF_UP) || this.kernel.halted || this.inRx) return;
    const lappedBefore = r.lapped;
    const lostBefore = r.lost;
    // A router does not coalesce (Linux turns LRO off when forwarding is
    // on): a packet it forwards must leave in the segments that came.
    this.lroOn = (ifp.capenable & IFCAP_LRO) !== 0 && !(INET.peek(this.kernel)?.forwarding);
    const n = r.poll(this.deliverFn, this.senderLo, this.senderHi);
    if (n < 0) {
      // Lock held too long by another process: try again on the next softint.
      this.scheduleRx();
      return;
    }
    this.stats.laps += r.lapped - lappedBefore;
    this.stats.lost += r.lost - lostBefore;
    ifp.stats.iqdrops += r.lost - lostBefore;
    this.lroFlush();
    const q = this.rxq;
    if (q.length === 0) return;
    this.inRx = true;
    try {
      for (let i = 0; i < q.length; i++) ifp.input(ifp, q[i]!);
    } finally {
      q.length = 0;
      this.inRx = false;
    }
  }
}

function shmifRx(sc: ShmifSoftc): void {
  sc.receive();
}

const SOFTC = defineState<Ifnet, ShmifSoftc>('shmif softc');

export function shmifSoftc(ifp: Ifnet): ShmifSoftc | undefined {
  return SOFTC.peek(ifp);
}

const shmifDriver: IfDriver = {
  transmit(ifp, m) {
    SOFTC.get(ifp).transmit(m);
  },
  init(ifp) {
    const sc = SOFTC.get(ifp);
    if (!sc.map) return ENXIO;
    sc.startReading();
    return 0;
  },
  stop(ifp) {
    SOFTC.get(ifp).stopReading();
  },
  ioctl(ifp, cmd, arg) {
    const sc = SOFTC.get(ifp);
    if (cmd === 'SIOCSLINKSTR') {
      const linkstr = (arg as { linkstr: string | null }).linkstr;
      if (ifp.flags & IFF_UP) throw new Errno(EBUSY);
      if (linkstr === null) {
        if (!sc.map) throw new Errno(EINVAL);
        sc.detachBus();
        ifp.linkstr = null;
        return undefined;
      }
      if (sc.map) throw new Errno(EBUSY);
      sc.attachBus(linkstr);
      ifp.linkstr = linkstr;
      return undefined;
    }
    if (cmd === 'SIOCSIFCAP') {
      // ifioctl checked the bits against the capabilities; both are done
      // here in software, so nothing else needs reprogramming.
      ifp.capenable = (arg as { capenable: number }).capenable;
      return undefined;
    }
    if (cmd === 'SIOCSIFMTU') {
      const mtu = (arg as { mtu: number }).mtu;
      // The bus carries frames of at most 1514 bytes.
      if (mtu > 1500) throw new Errno(EINVAL);
      ifp.mtu = mtu;
      return undefined;
    }
    if (etherMultiIoctl(ifp, cmd, arg)) return undefined;
    throw new Errno(EOPNOTSUPP);
  },
  detach(ifp) {
    SOFTC.peek(ifp)?.detachBus();
  },
};

/** The `shmif` cloner. */
export function shmifCloner(ns: NetStack) {
  return {
    name: 'shmif',
    create(_ifs: IfTable, unit: number): Ifnet {
      const k = ns.kernel;
      const ifp = new Ifnet(k, `shmif${unit}`, unit, IFT_ETHER, shmifDriver);
      const sc = new ShmifSoftc(k, ifp);
      SOFTC.set(ifp, sc);
      ifp.mtu = 1500;
      ifp.flags = IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST;
      ifp.capabilities = SHMIF_CAPS;
      ifp.capenable = SHMIF_CAPS;
      etherIfattach(ns, ifp, randomMac(k, 0xb2, 0xa0));
      return ifp;
    },
    destroy(ifp: Ifnet): void {
      SOFTC.peek(ifp)?.detachBus();
      SOFTC.delete(ifp);
    },
  };
}
