/*
 * TCP's control block and per-kernel state (BSD netinet/tcp_var.h).
 *
 * One `Tcp` per kernel (inet.tcp): the tunables behind net.inet.tcp.*, the
 * hash key of ISNs and SYN cookies, the SYN cache, the segment being
 * processed. One `TcpCb` per connection: the RFC 9293 §3.3.1 variables
 * under BSD's names (snd_una, rcv_nxt, ...), the option state, RTT and
 * congestion control state (T2's modules), the reassembly queue and the
 * timers (one callout per connection while a timer is set, kern/callout.ts).
 *
 *   socket(SOCK_STREAM) → usrreq attach → new TcpCb (CLOSED)
 *   connect → SYN_SENT → input → ESTABLISHED ... → tcpClose → CLOSED
 *   listen → LISTEN; SYN → syncache → ACK → syncache expand → new TcpCb
 */
import type { TcpFastOpen } from './fastopen.js';
import type { Ifnet } from '../../interface.js';
import type { Callout } from '../../../kern/callout.js';
import type { Kernel } from '../../../kern/kernel.js';
import type { Mbuf } from '../../../kern/mbuf.js';
import { InAddr } from '../in_addr.js';
import type { Socket } from '../../socket.js';
import { TCP_MAX_SACK, TCP_MAXOLEN, TcpOptions } from '../../wire/tcp.js';
import type { InPcb, InPcbTable } from '../in_pcb.js';
import type { Inet, TcpStat } from '../inet.js';
import type { CcAlgo, CcState } from './cc/cc.js';
import { RTT_SLOTS, RttEstimator, rttParams, type RttParams } from './rtt.js';
import type { SackReceiver, SackScoreboard } from './sack.js';
import { TCPS_CLOSED } from './fsm.js';
import type { SipHash24 } from './isn.js';
import type { SynCache } from './syncache.js';

/* t_flags (BSD names). */
/** Send an ACK now. */
export const TF_ACKNOW = 0x0001;
/** An ACK is owed; the delayed-ACK timer runs. */
export const TF_DELACK = 0x0002;
/** TCP_NODELAY: no Nagle. */
export const TF_NODELAY = 0x0004;
/** TCP_NOOPT: no options at all (and a send MSS of mssdflt). */
export const TF_NOOPT = 0x0008;
/** Our FIN has been sent. */
export const TF_SENTFIN = 0x0010;
/** We asked for / agreed to window scaling (RFC 7323 §2). */
export const TF_REQ_SCALE = 0x0020;
export const TF_RCVD_SCALE = 0x0040;
/** We asked for / the peer sent timestamps (RFC 7323 §3). */
export const TF_REQ_TSTMP = 0x0080;
export const TF_RCVD_TSTMP = 0x0100;
/** Both sides agreed to SACK (RFC 2018 §2). */
export const TF_SACK_PERMIT = 0x0200;
/** We offer SACK-permitted. */
export const TF_REQ_SACK = 0x0400;
/** Send a FIN once the send buffer drains (shutdown during SYN states). */
export const TF_NEEDFIN = 0x0800;
/** TCP_NOPUSH. */
export const TF_NOPUSH = 0x1000;
/** In fast recovery (RFC 5681 §3.2 / RFC 6582 / RFC 6675). */
export const TF_FASTRECOVERY = 0x2000;
/** Output is sending a window probe (persist) or a forced segment. */
export const TF_FORCEDATA = 0x4000;
/** tcpOutput is running (a nested call returns at once). */
export const TF_INOUTPUT = 0x10000;

/** BSD TCP_MAXWIN: the largest unscaled window. */
export const TCP_MAXWIN = 65535;
/** IPv4 + TCP headers without options. */
export const TCPIP_HDRLEN = 40;
/** IPv6 + TCP headers without options: an IPv6 MSS is the MTU less 60 (RFC 8200 §8.3, RFC 6691). */
export const TCPIP6_HDRLEN = 60;
/** Segments a retransmission timeout may back off through (BSD TCP_MAXRXTSHIFT). */
export const TCP_MAXRXTSHIFT = 12;
/** FreeBSD's tcp_sc_msstab: the MSS values a SYN cookie can encode. */
export const SYNCOOKIE_MSSTAB: readonly number[] = [216, 536, 1200, 1360, 1400, 1440, 1452, 1460];

/**
 * The tunables (net.inet.tcp.*). Defaults are NetBSD's where NetBSD has the
 * knob; times are in milliseconds, as FreeBSD's sysctls take them (the
 * packetdrill scripts write `keepidle=7200000`).
 */
export class TcpConfig {
  /** Default socket buffers (net.inet.tcp.sendspace / recvspace). */
  sendspace = 32768;
  recvspace = 32768;
  /**
   * Socket buffer autosizing (NetBSD's and FreeBSD's net.inet.tcp.
   * sendbuf_auto / recvbuf_auto, on by default in both, with NetBSD's
   * steps and ceilings): a buffer the application did not size itself
   * grows while a bulk stream keeps it full (tcp_output, tcp_input).
   */
  sendbufAuto = 1;
  sendbufInc = 8 * 1024;
  sendbufMax = 256 * 1024;
  recvbufAuto = 1;
  recvbufInc = 16 * 1024;
  recvbufMax = 256 * 1024;
  /** Send MSS when the peer offers none (RFC 9293 §3.7.1: 536). */
  mssdflt = 536;
  /** Smallest MSS accepted from a peer or an ICMP (FreeBSD net.inet.tcp.minmss). */
  minmss = 216;
  /** Window scaling and timestamps (RFC 7323). */
  rfc1323 = 1;
  /** SACK (RFC 2018). */
  sack = 1;
  /** Delayed ACK timeout (net.inet.tcp.delacktime; NetBSD's 200 ms is delack_ticks 20 at hz 100). */
  delacktime = 200;
  /** RTO before the first sample (RFC 6298 (2.1)). */
  rexmitInitial = 1000;
  /** RTO floor (RFC 6298 (2.4)). */
  rexmitMin = 1000;
  /** Added to every computed RTO (FreeBSD rexmit_slop; 0 = NetBSD). */
  rexmitSlop = 0;
  /** RTO ceiling (BSD TCPTV_REXMTMAX). */
  rexmitMax = 64000;
  /** Drop WS/TS/SACK from the 4th SYN on (FreeBSD rexmit_drop_options). */
  rexmitDropOptions = 0;
  /** Connection-establishment timeout (TCPTV_KEEP_INIT). */
  keepinit = 75000;
  /** Idle time before keepalive probes (TCPTV_KEEP_IDLE, 2 h). */
  keepidle = 7200000;
  /** Between keepalive probes (TCPTV_KEEPINTVL). */
  keepintvl = 75000;
  /** Probes before dropping (TCPTV_KEEPCNT). */
  keepcnt = 8;
  /** Maximum segment lifetime; TIME_WAIT lasts 2×MSL (TCPTV_MSL, 30 s). */
  msl = 30000;
  /**
   * NetBSD's TIME_WAIT truncation (net.inet.tcp.mslt.enable, .loopback):
   * a connection on the loopback address waits 2 × 1 s, not 2 × msl
   * (tcp_established; tcp_msl_loop is PR_SLOWHZ slow ticks, 1 s).
   */
  msltEnable = 1;
  msltLoopback = 1000;
  /** RFC 793 RST handling instead of RFC 5961 §3 (net.inet.tcp.insecure_rst). */
  insecureRst = 0;
  /** RFC 793 SYN handling instead of RFC 5961 §4. */
  insecureSyn = 0;
  /** Challenge ACKs per connection per window (FreeBSD ack_war_cnt / ack_war_timewindow). */
  ackWarCnt = 5;
  ackWarTimewindow = 1000;
  /** Send SYN cookies when the SYN cache overflows. */
  syncookies = 1;
  /** Answer every SYN with a cookie. */
  syncookiesOnly = 0;
  /** SYN cache size and per-bucket limit. */
  syncacheLimit = 10240;
  syncacheBucketLimit = 64;
  /** SYN-ACK retransmissions before a cache entry is dropped (FreeBSD syncache.rexmtlimit). */
  syncacheRexmtLimit = 3;
  /** 1: no RST for a SYN to a closed port; 2: no RST at all (FreeBSD blackhole). */
  blackhole = 0;
  /** Drop SYN+FIN segments (FreeBSD drop_synfin). */
  dropSynfin = 0;
  /**
   * Hard ICMP errors abort a connection in SYN_SENT (FreeBSD icmp_may_rst).
   * Off by default: NetBSD has no hard ICMP errors (its tcp_notify keeps every
   * one soft); FreeBSD's default 1 comes with the packetdrill profile.
   */
  icmpMayRst = 0;
  /** ECN (RFC 3168, ecn.ts): 0 off, 1 request and accept, 2 accept only (FreeBSD's net.inet.tcp.ecn.enable). */
  ecn = 0;
  /** SYN / SYN-ACK retransmissions that still ask for ECN (net.inet.tcp.ecn.maxretries). */
  ecnMaxretries = 1;
  /**
   * Process segments without a timestamp on a connection that agreed to
   * timestamps (FreeBSD's net.inet.tcp.tolerate_missing_ts, default on
   * since many stacks omit them); 0 drops them as RFC 7323 §3.2 says.
   */
  tolerateMissingTs = 1;
  /** TCP Fast Open (RFC 7413, fastopen.ts): serve it on listeners that ask / use it on sockets that ask (FreeBSD's defaults). */
  fastopenServerEnable = 0;
  fastopenClientEnable = 1;
  /** TCP over UDP (tunnel.ts): the local UDP port of the tunnel, 0 off (FreeBSD's net.inet.tcp.udp_tunneling_port). */
  udpTunnelingPort = 0;
  /** What the UDP header takes from the MSS (net.inet.tcp.udp_tunneling_overhead). */
  udpTunnelingOverhead = 8;
  /** RFC 3042 limited transmit. */
  rfc3042 = 1;
  /** Per-connection timestamp offsets (RFC 7323 §7.1). */
  tsOffsetPerConn = 1;
  /** Path MTU discovery: honour ICMP fragmentation-needed. */
  mtudisc = 1;
  /**
   * Blocks of out-of-order data one connection may hold (FreeBSD
   * net.inet.tcp.reass.maxqueuelen, default 100; contiguous segments count
   * once, as FreeBSD's queue merges them); beyond it a segment that opens a
   * new block is dropped and counted (rcvreassfull).
   */
  reassMaxqueuelen = 100;
  /** The congestion control of new connections (net.inet.tcp.congctl.selected). */
  congctl = 'newreno';
  /** kern.ipc.maxsockbuf: largest socket buffer; sets the window scale we ask for. */
  maxsockbuf = 262144;
  /** Give up on an unacknowledged window probe after this long without an ACK (FreeBSD tcp_maxpersistidle). */
  maxpersistidle = 7200000;
}

/** A segment waiting in the reassembly queue (struct tseg_qent). */
export class ReassSeg {
  constructor(
    public seq: number,
    public len: number,
    public m: Mbuf,
    public fin: boolean,
  ) {}
}

/**
 * The fields of the segment being processed, parsed once by tcpInput and
 * passed down (never a module global; one per kernel, input is never
 * re-entered because every link defers delivery).
 */
export class TcpSegment {
  /** Source and destination, either family (IPv4 v4-mapped: in_addr.ts). */
  readonly src = new InAddr();
  readonly dst = new InAddr();
  sport = 0;
  dport = 0;
  seq = 0;
  ack = 0;
  /** The window field as sent (unscaled). */
  win = 0;
  flags = 0;
  /** Data bytes. */
  tlen = 0;
  /** Where the data starts in the mbuf (absolute offset into m.buf). */
  dataOff = 0;
  readonly opts = new TcpOptions();
  optsOk = true;
  /** A D-SACK was already noted for this segment (only the first range is reported). */
  dsackDone = false;
  /**
   * What tcpDoSegment still has of the segment as it trims it to the
   * window (RFC 9293 §3.10.7.4 first): sequence number, data bytes, flags.
   * seq/tlen/flags above keep what arrived (an RST answers that).
   */
  curSeq = 0;
  curLen = 0;
  curFlags = 0;
  /** The peer's window, scaled (RFC 7323 §2.2). */
  tiwin = 0;
  /** Timestamps are on for the connection and the segment carries one. */
  tsOk = false;
  /** Timestamps are on for the connection and the segment carries none (RFC 7323 §3.2). */
  tsMissing = false;
  /** Host time at arrival. */
  now = 0;
  /** The IP TOS byte (IPv6 traffic class) it came with: its ECN bits (RFC 3168). */
  iptos = 0;
  /** TCP over UDP (tunnel.ts): the UDP source port it came from, 0 for plain TCP. */
  udpPort = 0;
  /** The urgent pointer field (meaningful with URG). */
  urp = 0;
}

/**
 * The TcpCbs of a kernel not yet closed (tcp_close takes them out): a
 * Set's face, but membership is a flag in each TcpCb and a walk finds them
 * through the PCB tables, where every one of them has its PCB until
 * tcp_close detaches it. A Set would cost an entry in its hash table (20
 * to 40 bytes) per connection; the flag costs 8.
 */
export class TcbSet {
  private n = 0;

  constructor(private readonly tcp: Tcp) {}

  get size(): number {
    return this.n;
  }

  has(tp: TcpCb): boolean {
    // tp.live, read from its bit: asked on every segment and every timer, and an accessor is one call more.
    return (tp.scales & SCALES_LIVE) !== 0 && tp.tcp === this.tcp;
  }

  add(tp: TcpCb): void {
    if (tp.live) return;
    tp.live = true;
    this.n++;
  }

  delete(tp: TcpCb): boolean {
    if (!this.has(tp)) return false;
    tp.live = false;
    this.n--;
    return true;
  }

  *[Symbol.iterator](): IterableIterator<TcpCb> {
    for (const table of [this.tcp.inet.tcbtable, this.tcp.tcbtable6]) {
      if (table === null) continue;
      for (const inp of table.all) {
        const tp = inp.so.pcb;
        if (tp instanceof TcpCb && tp.live && tp.inp === inp) yield tp;
      }
    }
  }
}

/** The `live` bit of a TcpCb's `scales`. */
const SCALES_LIVE = 0x10000;
/**
 * Where rcv_scale lies in a TcpCb's `scales`: output reads it as
 * `(tp.scales >> RCV_SCALE_SHIFT) & 0xf` on every segment, where the
 * accessor would be a call until V8 optimises the caller.
 */
export const RCV_SCALE_SHIFT = 4;

/** Per-kernel TCP state (BSD keeps these as globals; here one per kernel). */
export class Tcp {
  readonly cfg = new TcpConfig();
  readonly stat: TcpStat;
  /** The current segment (input). */
  readonly seg = new TcpSegment();
  /** ISN / timestamp-offset key (RFC 6528). */
  isnKey!: SipHash24;
  /** SYN cookie secrets, rotated every SYNCOOKIE_LIFETIME. */
  cookieKeys!: [SipHash24, SipHash24];
  cookieGen = 0;
  cookieRotatedAt = 0;
  syncache!: SynCache;
  /** RFC 6056 Algorithm 4: per-destination-hash counters of the ephemeral port search. */
  readonly portTable = new Uint32Array(256);
  /** Every TcpCb not yet closed, for pcblist and the leak checks. */
  readonly tcbs = new TcbSet(this);
  /** tcpSendSegment's scratch: the options are built here first (their length sizes the mbuf). */
  readonly optbuf = new Uint8Array(TCP_MAXOLEN);
  /** tcpSendSegment's scratch: the SACK blocks of the option being built. */
  readonly sackBlocks = new Uint32Array(2 * TCP_MAX_SACK);
  /** The SYN cache's scratch: a SYN-ACK's options. */
  readonly synOptbuf = new Uint8Array(TCP_MAXOLEN);
  /** TCP Fast Open's key and client cookie cache (fastopen.ts), made at first use. */
  tfo: TcpFastOpen | null = null;
  /**
   * TCP's IPv6 PCBs (its AF_INET6 port namespace, with the IPv6 layer's
   * In6Ops), set when net_netinet6 attaches; null without IPv6.
   */
  tcbtable6: InPcbTable | null = null;
  /** Scratch addresses for one call (a PCB's tuple read out, an ICMP quote's); never kept. */
  readonly scratchSrc = new InAddr();
  readonly scratchDst = new InAddr();
  /** The 16-byte forms IPv6 output and routes take; never kept. */
  readonly bytesSrc = new Uint8Array(16);
  readonly bytesDst = new Uint8Array(16);

  constructor(readonly inet: Inet) {
    this.stat = inet.tcpstat;
    this.kernel = inet.kernel;
  }

  /** The kernel (inet's): a field, not a getter, since every segment asks for it (one per kernel). */
  readonly kernel: Kernel;

  private rttp: Readonly<RttParams> | null = null;

  /**
   * The RTT parameters of a new connection, from the tunables as they are
   * now: one object shared by every connection made while they stay so.
   */
  rttParams(): Readonly<RttParams> {
    const c = this.cfg;
    let p = this.rttp;
    if (p === null || p.rtoInitial !== c.rexmitInitial || p.rtoMin !== c.rexmitMin || p.rtoMax !== c.rexmitMax || p.rtoSlop !== c.rexmitSlop) {
      p = rttParams({ rtoInitial: c.rexmitInitial, rtoMin: c.rexmitMin, rtoMax: c.rexmitMax, rtoSlop: c.rexmitSlop });
      this.rttp = p;
    }
    return p;
  }

  private keepp: Readonly<KeepParams> | null = null;

  /**
   * The keepalive settings of a new connection, from the tunables as they
   * are now: one object shared by every connection made while they stay so.
   */
  keepParams(): Readonly<KeepParams> {
    const c = this.cfg;
    let p = this.keepp;
    if (p === null || p.init !== c.keepinit || p.idle !== c.keepidle || p.intvl !== c.keepintvl || p.cnt !== c.keepcnt) {
      p = Object.freeze({ init: c.keepinit, idle: c.keepidle, intvl: c.keepintvl, cnt: c.keepcnt });
      this.keepp = p;
    }
    return p;
  }

  /** The timestamp clock: milliseconds since boot (a 1 ms tick, RFC 7323 §5.4). */
  tsNow(): number {
    return Math.floor(this.inet.kernel.uptime()) >>> 0;
  }
}

/*
 * The TcpCb fields that leave the small-integer range: sequence numbers and
 * timestamps are 32-bit unsigned, times are fractional milliseconds. As
 * object fields V8 boxes each of them in a heap number of its own (16 bytes
 * more per field, on every idle connection); they live instead, unboxed, in
 * one array of doubles per TcpCb (`v`), behind accessors of the same names.
 *
 * The accessors cost a call per use until V8 optimises their callers, and a
 * short run (a test, a short-lived program) is over before it has: the
 * functions every segment runs read `tp.v` once into a local and index it
 * with these constants instead (`v[SND_UNA]` is `tp.snd_una`). Each is its
 * field's place in `v`, after the estimator's RTT_SLOTS (srtt, rttvar, base).
 */
export const SND_UNA = 3;
export const SND_NXT = 4;
export const SND_MAX = 5;
export const SND_UP = 6;
export const SND_WL1 = 7;
export const SND_WL2 = 8;
export const ISS = 9;
export const RCV_NXT = 10;
export const RCV_ADV = 11;
export const RCV_UP = 12;
export const IRS = 13;
export const LAST_ACK_SENT = 14;
export const TS_RECENT = 15;
export const TS_RECENT_AGE = 16;
export const TS_OFFSET = 17;
export const RFBUF_TS = 18;
export const T_RTTTIME = 19;
export const T_RTSEQ = 20;
export const T_RCVTIME = 21;
export const T_STARTTIME = 22;
export const SND_RECOVER = 23;
export const REXMT_AT = 24;
export const PERSIST_AT = 25;
export const KEEP_AT = 26;
export const MSL2_AT = 27;
export const DELACK_AT = 28;
export const CC_NOW = 29;
/** The length of a TcpCb's `v`. */
export const TCB_DOUBLES = 30;

/** The accessors of `v`'s fields: name to place. */
const NUMERIC_FIELDS: Readonly<Record<string, number>> = {
  snd_una: SND_UNA,
  snd_nxt: SND_NXT,
  snd_max: SND_MAX,
  snd_up: SND_UP,
  snd_wl1: SND_WL1,
  snd_wl2: SND_WL2,
  iss: ISS,
  rcv_nxt: RCV_NXT,
  rcv_adv: RCV_ADV,
  rcv_up: RCV_UP,
  irs: IRS,
  last_ack_sent: LAST_ACK_SENT,
  ts_recent: TS_RECENT,
  ts_recent_age: TS_RECENT_AGE,
  ts_offset: TS_OFFSET,
  rfbuf_ts: RFBUF_TS,
  t_rtttime: T_RTTTIME,
  t_rtseq: T_RTSEQ,
  t_rcvtime: T_RCVTIME,
  t_starttime: T_STARTTIME,
  snd_recover: SND_RECOVER,
  rexmtAt: REXMT_AT,
  persistAt: PERSIST_AT,
  keepAt: KEEP_AT,
  msl2At: MSL2_AT,
  delackAt: DELACK_AT,
  now: CC_NOW,
};
// The places are RTT_SLOTS .. TCB_DOUBLES - 1, each once: after the estimator's, none shared, none left out.
if (Object.values(NUMERIC_FIELDS).sort((a, b) => a - b).some((at, i, all) => at !== RTT_SLOTS + i || all.length !== TCB_DOUBLES - RTT_SLOTS)) {
  throw new Error('TcpCb: the places of v are out of step');
}

/** The reassembly queue of every TcpCb that never queued a segment: always empty, never added to. */
export const NO_SEGQ: ReassSeg[] = [];

/**
 * A TcpCb's `v` at creation: the estimator's RTT_SLOTS, then every field
 * 0, the array already of doubles, so a copy starts with the right elements.
 */
const NUMERIC_INIT = Array.from({ length: TCB_DOUBLES }, () => 0.5).fill(0) as TcbDoubles;

/** A TcpCb's `v` as TypeScript sees it: TCB_DOUBLES numbers, so `v[SND_UNA]` is a number. */
type Doubles<N extends number, A extends number[] = []> = A['length'] extends N ? A : Doubles<N, [...A, number]>;
export type TcbDoubles = Doubles<typeof TCB_DOUBLES>;

/*
 * The TcpCb fields that stay at their first value on almost every
 * connection, and on an idle one always: what only a lossy path (SACK,
 * reassembly, duplicate ACKs, retransmissions), an ICMP error, a challenge ACK, a keepalive
 * probe, a retransmitted SYN, TCP_MAXSEG, ECN, Fast Open or TCP over UDP sets. They
 * live in `x`, an array made when one of them first takes another value;
 * until then `x` is null and they read as these defaults (writing a
 * default to a TcpCb without `x` changes nothing and makes nothing).
 */
const RARE_FIELDS = {
  t_usermss: 0, t_rxtshift: 0, t_dupacks: 0, t_softerror: 0, t_persistStart: 0, t_keepprobes: 0, t_synrexmits: 0,
  sackSb: null, sackRcv: null, segq: NO_SEGQ, segqBytes: 0, segqMem: 0, ackWarStart: 0, ackWarCount: 0,
  ecnFlags: 0, ecnRecover: 0, tfoFlags: 0, t_port: 0,
} as const;
/*
 * Each read of a rare field is a call too (until V8 optimises the caller):
 * the functions every segment runs test `tp.x === null` first, and then
 * read none of them.
 */
/** A TcpCb's `x` when made: the defaults. */
const RARE_INIT: readonly unknown[] = Object.values(RARE_FIELDS);

/** A connection's keepalive settings (TCP_KEEPINIT, TCP_KEEPIDLE, TCP_KEEPINTVL in ms; TCP_KEEPCNT). */
export interface KeepParams {
  init: number;
  idle: number;
  intvl: number;
  cnt: number;
}

/**
 * struct tcpcb. It is its own RTT estimator, as BSD keeps t_srtt and
 * t_rttvar in the tcpcb: the estimator's fields sit in the TcpCb (`tp.rtt
 * === tp`), one object less per connection.
 */
export class TcpCb extends RttEstimator implements CcState {
  /** In its kernel's `tcp.tcbs`: made and not yet closed (a bit of `scales`, accessor below the class). */
  declare live: boolean;
  /** The estimator's doubles, then NUMERIC_FIELDS' from RTT_SLOTS on (accessors below the class; SND_UNA... index it). */
  declare readonly v: TcbDoubles;
  /** The fields of RARE_FIELDS, by index, once one of them left its default (accessors below the class). */
  x: unknown[] | null = null;
  state = TCPS_CLOSED;
  flags = 0;

  /* Send sequence variables (RFC 9293 §3.3.1). */
  declare snd_una: number;
  declare snd_nxt: number;
  /** Highest sequence sent (BSD: snd_nxt can be pulled back for retransmission). */
  declare snd_max: number;
  declare snd_up: number;
  declare snd_wl1: number;
  declare snd_wl2: number;
  declare iss: number;
  /** Peer's window, scaled. */
  snd_wnd = 0;
  /** Largest window the peer offered (Nagle's "half the window" test). */
  max_sndwnd = 0;

  /* Receive sequence variables. */
  declare rcv_nxt: number;
  /** Receive window as computed at the last segment (RST/SYN acceptability uses it). */
  rcv_wnd = 0;
  /** rcv_nxt + the window last advertised. */
  declare rcv_adv: number;
  declare rcv_up: number;
  declare irs: number;
  declare last_ack_sent: number;

  /* Segment sizes. */
  /** Data bytes per full-sized segment (SMSS less the timestamps option). */
  t_maxseg = 536;
  /** Data plus options per segment: what the peer's MSS and the path allow. */
  t_maxopd = 536;
  /** The MSS we advertised. */
  t_ourmss = 536;
  /**
   * The interface of the route when tcp_mss ran, if it can do TSO
   * (IFCAP_TSOv4): while its TSO is enabled, output builds segments of up
   * to 64 KB for it to cut (NetBSD tcp_output's use_tso). Null otherwise.
   * A field of its own, not one of RARE_FIELDS: every connection over lo0
   * sets it, and a rare field set would give each of them an `x` array.
   */
  t_tsoifp: Ifnet | null = null;
  /** TCP_MAXSEG set by the user (0: none). */
  declare t_usermss: number;

  /* Options (RFC 7323). */
  /*
   * The four window shifts (0..14, RFC 7323 §2.3), four bits each of
   * `scales` behind accessors (below the class): one field, not four.
   * Its bits 16-18 hold three flags: live, sack and inRecovery.
   */
  declare snd_scale: number;
  declare rcv_scale: number;
  declare request_r_scale: number;
  declare requested_s_scale: number;
  scales = 0;
  declare ts_recent: number;
  /** When ts_recent was taken (ms, for the 24-day PAWS rule, RFC 7323 §5.5). */
  declare ts_recent_age: number;
  declare ts_offset: number;
  /** Receive buffer autosizing: the timestamp that opened this measuring round (0: none) and the bytes received in it. */
  declare rfbuf_ts: number;
  rfbuf_cnt = 0;

  /* Round-trip timing (RFC 6298): the estimator's state is inherited; these are BSD's. */
  /** When the timed segment was sent (ms since boot + 1; 0: none timed). */
  declare t_rtttime: number;
  declare t_rtseq: number;
  /** The current retransmission timeout (ms). */
  t_rxtcur = 0;
  /** Retransmissions of the segment at snd_una (index into the backoff table). */
  declare t_rxtshift: number;
  declare t_dupacks: number;
  /** A soft error (ICMP) to report if the connection times out. */
  declare t_softerror: number;
  /** When the last segment arrived (ms since boot). */
  declare t_rcvtime: number;
  /** When the persist timer started without an ACK (for maxpersistidle). */
  declare t_persistStart: number;
  /** Keepalive probes sent without an answer. */
  declare t_keepprobes: number;
  /** SYN (or SYN-ACK) retransmissions before the connection was established. */
  declare t_synrexmits: number;
  /** When the connection started (ms, host clock), for TIME_WAIT recycling. */
  declare t_starttime: number;

  /*
   * Per-socket timer settings (TCP_KEEP*), ms: read from `keepp`, the
   * tunables' values when the connection was made (one object shared by
   * every connection made while they stay so); setting one gives the
   * connection a copy of its own.
   */
  declare t_keepinit: number;
  declare t_keepidle: number;
  declare t_keepintvl: number;
  declare t_keepcnt: number;
  keepp: Readonly<KeepParams>;

  /*
   * Congestion control (T2's cc/ modules: the tcpcb owns the state). The
   * CcState the algorithms work on is the tcpcb itself (`tp.cc === tp`),
   * its members held here rather than in an object of their own: one
   * object less per connection, and `now`, fractional, kept unboxed in `v`
   * (see NUMERIC_FIELDS).
   */
  cwnd = 0;
  ssthresh = 0;
  /** CcState.maxseg is t_maxseg; CcState.recover is snd_recover (accessors below the class). */
  declare maxseg: number;
  flightsize = 0;
  declare recover: number;
  /** CcState.now: the time (ms) T1 hands the algorithm with each call. */
  declare now: number;
  /* CcState.srtt is the estimator's own srtt (the tcpcb is its RttEstimator too). */
  declare sack: boolean;
  /** CcState.synRexmits is t_synrexmits. */
  declare synRexmits: number;
  declare inRecovery: boolean;
  ccData: unknown = null;
  ccAlgo: CcAlgo;
  /** NewReno's recover, or the SACK recovery point (RFC 6675 RecoveryPoint). */
  declare snd_recover: number;
  /** SACK state, created when SACK is negotiated. */
  declare sackSb: SackScoreboard | null;
  declare sackRcv: SackReceiver | null;

  /** Out-of-order segments, sorted by sequence (tcp_reass); a connection gets its own queue when it first needs one. */
  declare segq: ReassSeg[];
  /** Data bytes held in segq (FreeBSD t_segqlen), bounded by the receive buffer's free space. */
  declare segqBytes: number;
  /** Buffer bytes charged for segq (FreeBSD t_segqmbuflen). */
  declare segqMem: number;

  /* The send buffer pointer cache (BSD sb_sndptr): record index and its data offset. */
  sndptrIdx = 0;
  sndptrOff = 0;

  /* ECN (ecn.ts): ECN_* flags, and snd_max at the last reduction (one per window, RFC 3168 §6.1.2). Rare fields. */
  declare ecnFlags: number;
  declare ecnRecover: number;
  /* TCP Fast Open (fastopen.ts): TFO_* flags. A rare field. */
  declare tfoFlags: number;
  /** TCP over UDP (tunnel.ts): the peer's UDP port (TCP_REMOTE_UDP_ENCAPS_PORT), 0 for plain TCP. A rare field. */
  declare t_port: number;

  /* RFC 5961 challenge ACK rate limit (FreeBSD's ack war window). */
  declare ackWarStart: number;
  declare ackWarCount: number;

  /*
   * Timers as data: a deadline per timer (host ms, 0: off) and ONE callout
   * per connection, armed for the earliest and re-armed lazily. The callout
   * exists only while a timer may be pending (timer.ts): an idle
   * connection, with every deadline 0, holds none.
   */
  declare rexmtAt: number;
  declare persistAt: number;
  declare keepAt: number;
  declare msl2At: number;
  declare delackAt: number;
  timerCo: Callout<TcpCb> | null = null;

  constructor(
    readonly tcp: Tcp,
    /** The PCB; a dual-stack IPv6 socket connecting to a v4-mapped address swaps in an IPv4 one. */
    public inp: InPcb,
    ccAlgo: CcAlgo,
  ) {
    super(tcp.rttParams(), NUMERIC_INIT.slice());
    this.so = inp.so;
    const cfg = tcp.cfg;
    this.t_rxtcur = cfg.rexmitInitial;
    this.keepp = tcp.keepParams();
    this.ccAlgo = ccAlgo;
  }

  /**
   * The socket: its PCB's (a swapped-in PCB is attached to the same
   * socket). A field, not a getter of `inp.so`: every segment asks for it
   * several times, and a getter is a call until V8 optimises the caller.
   */
  readonly so: Socket;

  /** Round-trip timing (RFC 6298): the tcpcb itself. */
  get rtt(): RttEstimator {
    return this;
  }

  /** The congestion-control state handed to `ccAlgo`: the tcpcb itself. */
  get cc(): TcpCb {
    return this;
  }
}

for (const [name, at] of Object.entries(NUMERIC_FIELDS)) {
  Object.defineProperty(TcpCb.prototype, name, {
    get(this: { v: number[] }): number {
      return this.v[at]!;
    },
    set(this: { v: number[] }, x: number): void {
      this.v[at] = x;
    },
  });
}

Object.defineProperties(TcpCb.prototype, {
  snd_scale: {
    get(this: TcpCb): number {
      return this.scales & 0xf;
    },
    set(this: TcpCb, x: number): void {
      this.scales = (this.scales & ~0xf) | (x & 0xf);
    },
  },
  rcv_scale: {
    get(this: TcpCb): number {
      return (this.scales >> RCV_SCALE_SHIFT) & 0xf;
    },
    set(this: TcpCb, x: number): void {
      this.scales = (this.scales & ~0xf0) | ((x & 0xf) << RCV_SCALE_SHIFT);
    },
  },
  request_r_scale: {
    get(this: TcpCb): number {
      return (this.scales >> 8) & 0xf;
    },
    set(this: TcpCb, x: number): void {
      this.scales = (this.scales & ~0xf00) | ((x & 0xf) << 8);
    },
  },
  live: {
    get(this: TcpCb): boolean {
      return (this.scales & SCALES_LIVE) !== 0;
    },
    set(this: TcpCb, on: boolean): void {
      this.scales = on ? this.scales | SCALES_LIVE : this.scales & ~SCALES_LIVE;
    },
  },
  sack: {
    get(this: TcpCb): boolean {
      return (this.scales & 0x20000) !== 0;
    },
    set(this: TcpCb, on: boolean): void {
      this.scales = on ? this.scales | 0x20000 : this.scales & ~0x20000;
    },
  },
  inRecovery: {
    get(this: TcpCb): boolean {
      return (this.scales & 0x40000) !== 0;
    },
    set(this: TcpCb, on: boolean): void {
      this.scales = on ? this.scales | 0x40000 : this.scales & ~0x40000;
    },
  },
  requested_s_scale: {
    get(this: TcpCb): number {
      return (this.scales >> 12) & 0xf;
    },
    set(this: TcpCb, x: number): void {
      this.scales = (this.scales & ~0xf000) | ((x & 0xf) << 12);
    },
  },
});

/*
 * CcState members that are the tcpcb's own variables under other names:
 * T1 used to copy these into the algorithm's state before each call.
 */
Object.defineProperties(TcpCb.prototype, {
  maxseg: {
    get(this: TcpCb): number {
      return this.t_maxseg;
    },
    set(this: TcpCb, x: number): void {
      this.t_maxseg = x;
    },
  },
  recover: {
    get(this: TcpCb): number {
      return this.snd_recover;
    },
    set(this: TcpCb, x: number): void {
      this.snd_recover = x;
    },
  },
  synRexmits: {
    get(this: TcpCb): number {
      return this.t_synrexmits;
    },
    set(this: TcpCb, x: number): void {
      this.t_synrexmits = x;
    },
  },
});

for (const [name, key] of [['t_keepinit', 'init'], ['t_keepidle', 'idle'], ['t_keepintvl', 'intvl'], ['t_keepcnt', 'cnt']] as const) {
  Object.defineProperty(TcpCb.prototype, name, {
    get(this: { keepp: Readonly<KeepParams> }): number {
      return this.keepp[key];
    },
    set(this: { keepp: Readonly<KeepParams> }, x: number): void {
      if (this.keepp[key] !== x) this.keepp = { ...this.keepp, [key]: x };
    },
  });
}

{
  const names = Object.keys(RARE_FIELDS);
  for (let i = 0; i < names.length; i++) {
    const at = i;
    const dflt = RARE_INIT[i];
    Object.defineProperty(TcpCb.prototype, names[i]!, {
      get(this: { x: unknown[] | null }): unknown {
        const x = this.x;
        return x === null ? dflt : x[at];
      },
      set(this: { x: unknown[] | null }, val: unknown): void {
        let x = this.x;
        if (x === null) {
          if (val === dflt) return;
          x = this.x = RARE_INIT.slice();
        }
        x[at] = val;
      },
    });
  }
}

/** The TcpCb of a TCP socket (null once it was never attached). */
export function sototcpcb(so: Socket): TcpCb | null {
  const p = so.pcb;
  return p instanceof TcpCb ? p : null;
}
