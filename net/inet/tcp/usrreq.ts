/*
 * TCP user requests (BSD netinet/tcp_usrreq.c): what a socket call does to
 * a connection, socket options (IPPROTO_TCP), and the attach of TCP to a
 * kernel with its sysctls (net.inet.tcp.*, FreeBSD's names and units).
 *
 *   sys.socket(AF_INET, SOCK_STREAM) → InetDomain.socreate → attach (TcpCb in CLOSED)
 *   bind → in_pcb bind;  listen → LISTEN
 *   connect → ephemeral port (four-tuple unique) → ISN (RFC 6528) → SYN_SENT → tcpOutput
 *     (net/socket.ts waits for ESTABLISHED, or answers EINPROGRESS)
 *   write → Socket appends to so.snd → send → tcpOutput
 *   read → Socket takes from so.rcv → rcvd → tcpOutput (window update)
 *   shutdown(SHUT_WR) → tcpUsrClosed → FIN;  close → detach → tcpDisconnect
 *
 * One TcpUsrreqs per family, as NetBSD's tcp_usrreqs serves both through
 * the socket's domain: the AF_INET6 one (net_netinet6's domain) keeps its
 * PCBs in tcp.tcbtable6, takes sockaddr_in6 and IPPROTO_IPV6 options;
 * everything after the addresses (states, timers, output) is shared.
 */
import { ECN_PERMIT } from './ecn.js';
import { TFO_ENABLED, tcpFastOpenConnect } from './fastopen.js';
import { TCP_REMOTE_UDP_ENCAPS_PORT } from './tunnel.js';
import {
  Errno, EADDRINUSE, EAFNOSUPPORT, EAGAIN, EINVAL, ENETUNREACH, ENOENT, ENOPROTOOPT, EOPNOTSUPP, EPERM,
} from '../../../kern/errno.js';
import type { Mbuf } from '../../../kern/mbuf.js';
import { AF_INET, AF_INET6, MSG_OOB, SOCK_STREAM, type Sockaddr, type SockoptValue } from '../../../kern/sys.js';
import { ifioctl } from '../../interface_ioctl.js';
import {
  PR_CONNREQUIRED, PR_LISTEN, PR_URGENT, SO_KEEPALIVE, SO_LINGER, SOL_SOCKET, SS_ISBOUND, SS_ISCONNECTING,
  SS_ISDISCONNECTING, type Protosw, type Socket,
} from '../../socket.js';
import { INADDR_BROADCAST, parseInAddr } from '../../wire/inaddr.js';
import { parseIn6Addr } from '../../wire/in6addr.js';
import { IPPROTO_IP, IPPROTO_TCP } from '../../wire/ipv4.js';
import { InAddr } from '../in_addr.js';
import {
  INADDR_ANY_ADDR, IPPROTO_IPV6, in6PcbGetopt, in6PcbSetopt, inAddrMulticast, inPcbGetopt, inPcbSetopt,
  type InPcb, type InPcbTable,
} from '../in_pcb.js';
import type { Inet } from '../inet.js';
import { inSelectSrc } from '../ip_output.js';
import { AddrPort, addrToSockaddr } from '../sockaddr.js';
import { ccByName, ccNames } from './cc/cc.js';
import {
  TCPS_CLOSED, TCPS_CLOSE_WAIT, TCPS_ESTABLISHED, TCPS_FIN_WAIT_1, TCPS_FIN_WAIT_2, TCPS_LAST_ACK, TCPS_LISTEN,
  TCPS_SYN_RECEIVED, TCPS_SYN_SENT, TCPS_TIME_WAIT, TCP_STATE_NAMES,
} from './fsm.js';
import { HASH_PORT_INDEX, HASH_PORT_OFFSET, SipHash24, tcpNewIsn, tcpNewTsOffset, tupleHash } from './isn.js';
import { tcpOutput } from './output.js';
import { seqGt } from './seq.js';
import { tcpClose, tcpDrop, tcpMss, tcpMssOpt, tcpNewTcpcb, tcpOobMark, tcpRequestScale } from './subr.js';
import { SynCache } from './syncache.js';
import { TCP_FINWAIT2_TIMEOUT, tcpTimer2mslArm, tcpTimerKeepArm } from './timer.js';
import {
  TF_NEEDFIN, TF_NODELAY, TF_NOOPT, TF_NOPUSH, TF_RCVD_SCALE, TF_RCVD_TSTMP, TF_REQ_SACK, TF_REQ_SCALE, TF_REQ_TSTMP,
  TF_SACK_PERMIT, Tcp, TcpCb, sototcpcb,
} from './var.js';

/* IPPROTO_TCP socket options, NetBSD's numbers (netinet/tcp.h). */
export const TCP_NODELAY = 1;
export const TCP_MAXSEG = 2;
export const TCP_KEEPIDLE = 3;
export const TCP_NOPUSH = 4;
export const TCP_KEEPINTVL = 5;
export const TCP_KEEPCNT = 6;
export const TCP_KEEPINIT = 7;
export const TCP_NOOPT = 8;
export const TCP_INFO = 9;
export const TCP_MD5SIG = 0x10;
/** NetBSD's TCP_CONGCTL; FreeBSD and Linux call it TCP_CONGESTION. */
export const TCP_CONGCTL = 0x20;
export const TCP_CONGESTION = TCP_CONGCTL;
/** TCP Fast Open (RFC 7413), FreeBSD's number: an int, or {enable, psk} (fastopen.ts). */
export const TCP_FASTOPEN = 1025;

/* tcpi_options bits (FreeBSD netinet/tcp.h). */
export const TCPI_OPT_TIMESTAMPS = 0x01;
export const TCPI_OPT_SACK = 0x02;
export const TCPI_OPT_WSCALE = 0x04;
export const TCPI_OPT_ECN = 0x08;

/** The largest TCP_MAXSEG a user may set. */
const TCP_MAXMSS = 65535 - 40;

/** The TcpCb of a socket, or EINVAL when it has none (never attached). */
function sototp(so: Socket): TcpCb {
  const tp = sototcpcb(so);
  if (tp === null) throw new Errno(EINVAL);
  return tp;
}

function intOpt(value: SockoptValue, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new Errno(EINVAL);
  return value;
}

/** A congestion-control name from a setsockopt value (bytes as C passes them, or {name}). */
function ccNameOf(value: SockoptValue): string {
  if (value instanceof Uint8Array) {
    let end = value.indexOf(0);
    if (end < 0) end = value.length;
    return new TextDecoder().decode(value.subarray(0, end));
  }
  if (typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)['name'] === 'string') {
    return (value as Record<string, string>)['name']!;
  }
  throw new Errno(EINVAL);
}

/**
 * FreeBSD tcp_twrecycleable: a connection in TIME_WAIT may give its
 * four-tuple to a new one once both sides' ISN clocks (250,000 per second,
 * RFC 6528's 4 µs) have moved past what it used, so no old segment can be
 * mistaken for a new one.
 */
function twRecycleable(tp: TcpCb, now: number): boolean {
  const ticks = Math.floor((now - tp.t_starttime) * 250);
  const newIss = (tp.iss + ticks) >>> 0;
  const newIrs = (tp.irs + ticks) >>> 0;
  return seqGt(newIss, tp.snd_nxt) && seqGt(newIrs, tp.rcv_nxt);
}

/** TCP's user requests (tcp_usrreqs), one per kernel and family. */
export class TcpUsrreqs implements Protosw {
  readonly type = SOCK_STREAM;
  readonly protocol = IPPROTO_TCP;
  readonly flags = PR_CONNREQUIRED | PR_LISTEN | PR_URGENT;

  constructor(
    readonly tcp: Tcp,
    /** AF_INET, or AF_INET6 once net_netinet6 has set tcp.tcbtable6. */
    readonly family: number = AF_INET,
  ) {}

  /** Reused by bind and connect: parsing an address allocates nothing. */
  private readonly sa = new AddrPort();
  /** connect's destination (when it stands for "this host") and source. */
  private readonly dst = new InAddr();
  private readonly src = new InAddr();

  /** The PCB table of this family. */
  private table(): InPcbTable {
    if (this.family !== AF_INET6) return this.tcp.inet.tcbtable;
    const t = this.tcp.tcbtable6;
    if (t === null) throw new Errno(EAFNOSUPPORT);
    return t;
  }

  sendspace(): number {
    return this.tcp.cfg.sendspace;
  }

  recvspace(): number {
    return this.tcp.cfg.recvspace;
  }

  attach(so: Socket): void {
    tcpNewTcpcb(this.tcp, so, this.table());
  }

  /**
   * The descriptor is closed (tcp_usr_detach → tcp_disconnect). A
   * connection still waiting in a listener's queue is aborted with an RST
   * (soabort); SO_LINGER with a zero timeout aborts too; otherwise the
   * connection closes gracefully and lives on without its descriptor.
   */
  detach(so: Socket): void {
    const tp = sototcpcb(so);
    if (tp === null || !this.tcp.tcbs.has(tp)) return;
    if (so.head !== null) {
      tcpDrop(tp, 0);
      return;
    }
    tcpDisconnect(tp);
  }

  bind(so: Socket, addr: Sockaddr): void {
    const tp = sototp(so);
    const a = this.sa.parse(addr, this.family).addr;
    if (inAddrMulticast(a) || (a.isV4() && a.v4() === INADDR_BROADCAST)) throw new Errno(EAFNOSUPPORT);
    // (In an AF_INET6 socket an IPv4 PCB came from a v4-mapped connect: that socket is spoken for.)
    if (tp.state !== TCPS_CLOSED || !this.tcp.tcbs.has(tp) || tp.inp.af !== this.family) throw new Errno(EINVAL);
    this.table().bind(tp.inp, a, this.sa.port);
  }

  listen(so: Socket, _backlog: number): void {
    const tp = sototp(so);
    if (!this.tcp.tcbs.has(tp) || (tp.state !== TCPS_CLOSED && tp.state !== TCPS_LISTEN)) throw new Errno(EINVAL);
    if (tp.inp.af !== this.family) throw new Errno(EINVAL);
    if (tp.inp.lport === 0) {
      this.table().bind(tp.inp, INADDR_ANY_ADDR, 0);
      so.state |= SS_ISBOUND;
    }
    tp.state = TCPS_LISTEN;
  }

  /**
   * tcp_usr_connect: pick the local address and port, then tcp_connect:
   * the ISN, the options to offer, SYN_SENT and the first SYN. The socket
   * layer waits for the outcome (or answers EINPROGRESS).
   */
  connect(so: Socket, addr: Sockaddr): void {
    const tcp = this.tcp;
    const tp = sototp(so);
    if (tp.state === TCPS_LISTEN) throw new Errno(EOPNOTSUPP);
    if (tp.state !== TCPS_CLOSED || !tcp.tcbs.has(tp)) throw new Errno(EINVAL);
    const sa = this.sa.parse(addr, this.family);
    // RFC 3493 §3.7: from an AF_INET6 socket a v4-mapped destination is an IPv4 connection.
    const v4 = sa.addr.isV4OrAny() && (this.family === AF_INET || sa.addr.isV4());
    if (!v4 && tp.inp.af !== AF_INET6) throw new Errno(EINVAL);
    if (v4) sa.addr.setV4(sa.addr.v4());
    const table = v4 ? tcp.inet.tcbtable : this.table();
    const faddr = table.resolveAny(sa.addr, this.dst);
    const fport = sa.port;
    if (inAddrMulticast(faddr) || (faddr.isV4() && faddr.v4() === INADDR_BROADCAST)) throw new Errno(EAFNOSUPPORT);
    if (fport === 0) throw new Errno(EINVAL);
    if (tp.inp.af === AF_INET6 && v4) tcpMoveToInet(tcp, tp, faddr);
    const inp = tp.inp;
    if (inp.lport === 0) {
      tcpConnectEphemeral(tcp, tp, table, faddr, fport, this.src);
    } else {
      try {
        table.connect(inp, faddr, fport);
      } catch (e) {
        // The four-tuple is held by a connection in TIME_WAIT: take it over
        // when that is safe (FreeBSD tcp_twrecycleable), else EADDRINUSE.
        if (!(e instanceof Errno) || e.errno !== EADDRINUSE) throw e;
        const laddr = this.src;
        if (!inp.localIsAny()) inp.localInto(laddr);
        else if (!table.selectSrc(faddr, laddr)) throw e;
        const old = table.lookupConnect(faddr, fport, laddr, inp.lport);
        const otp = old !== null ? sototcpcb(old.so) : null;
        if (otp === null || otp.state !== TCPS_TIME_WAIT || !twRecycleable(otp, tcp.kernel.host.now())) throw e;
        tcpClose(otp);
        tcp.stat.tw_reuse++;
        table.connect(inp, faddr, fport);
      }
    }
    so.state |= SS_ISBOUND;
    tcpConnect(tp);
  }

  disconnect(so: Socket): void {
    const tp = sototp(so);
    if (this.tcp.tcbs.has(tp)) tcpDisconnect(tp);
  }

  /** shutdown(SHUT_WR): our FIN (tcp_usrclosed, then output). */
  shutdown(so: Socket): void {
    const tp = sototcpcb(so);
    if (tp === null || !this.tcp.tcbs.has(tp)) return;
    tcpUsrClosed(tp);
    if (this.tcp.tcbs.has(tp)) tcpOutput(tp);
  }

  /**
   * sendto() with a destination on a socket not yet connecting: connect
   * first (FreeBSD's implied connect), only with TCP_FASTOPEN set, whose
   * SYN may carry the data (fastopen.ts). NetBSD's TCP has none: ENOTCONN.
   */
  impliedConnect(so: Socket): boolean {
    const tp = sototcpcb(so);
    return tp !== null && tp.state === TCPS_CLOSED && (tp.tfoFlags & TFO_ENABLED) !== 0 && this.tcp.cfg.fastopenClientEnable !== 0;
  }

  /** Urgent data received: the bytes before the mark, 0 at it, -1 once read (or the connection gone). */
  oobmark(so: Socket): number {
    const tp = sototcpcb(so);
    return tp === null || !this.tcp.tcbs.has(tp) ? -1 : tcpOobMark(tp);
  }

  /** Data was appended to so.snd: send what the windows allow. */
  send(so: Socket, _m: Mbuf, _to: Sockaddr | null, flags: number): void {
    const tp = sototcpcb(so);
    if (tp === null || !this.tcp.tcbs.has(tp)) return;
    // PRU_SENDOOB: the urgent pointer just past the last byte written (BSD's
    // convention, RFC 6093 §2), sent at once and on every segment before it.
    if (flags & MSG_OOB) tp.snd_up = (tp.snd_una + so.snd.cc) >>> 0;
    tcpOutput(tp);
  }

  /** The user read: the window may have opened enough for an update. */
  rcvd(so: Socket): void {
    const tp = sototcpcb(so);
    if (tp === null || !this.tcp.tcbs.has(tp) || tp.state < TCPS_ESTABLISHED) return;
    tcpOutput(tp);
  }

  setopt(so: Socket, level: number, name: number, value: SockoptValue): void {
    const tp = sototp(so);
    if (level === SOL_SOCKET) {
      if (name === SO_KEEPALIVE) {
        // Keepalive starts or stops with the option on a live connection.
        if (so.options & SO_KEEPALIVE) {
          if (tp.state >= TCPS_ESTABLISHED && tp.state <= TCPS_FIN_WAIT_2 && tp.keepAt === 0 && this.tcp.tcbs.has(tp)) {
            tcpTimerKeepArm(tp, tp.t_keepidle);
          }
        } else if (tp.state >= TCPS_ESTABLISHED) {
          tp.keepAt = 0;
        }
      }
      return;
    }
    if (level === IPPROTO_IP && this.family === AF_INET) {
      inPcbSetopt(tp.inp, name, value, false);
      return;
    }
    if (level === IPPROTO_IPV6 && this.family === AF_INET6) {
      in6PcbSetopt(tp.inp, name, value);
      return;
    }
    if (level !== IPPROTO_TCP) throw new Errno(ENOPROTOOPT);
    switch (name) {
      case TCP_NODELAY:
        if (intOpt(value, -0x80000000, 0x7fffffff)) tp.flags |= TF_NODELAY;
        else tp.flags &= ~TF_NODELAY;
        // Data held back by Nagle may go now.
        if (tp.flags & TF_NODELAY && this.tcp.tcbs.has(tp) && tp.state >= TCPS_ESTABLISHED) tcpOutput(tp);
        return;
      case TCP_NOPUSH:
        if (intOpt(value, -0x80000000, 0x7fffffff)) tp.flags |= TF_NOPUSH;
        else {
          tp.flags &= ~TF_NOPUSH;
          if (this.tcp.tcbs.has(tp) && tp.state >= TCPS_ESTABLISHED) tcpOutput(tp);
        }
        return;
      case TCP_NOOPT:
        if (intOpt(value, -0x80000000, 0x7fffffff)) tp.flags |= TF_NOOPT;
        else tp.flags &= ~TF_NOOPT;
        return;
      case TCP_MAXSEG: {
        const v = intOpt(value, 0, TCP_MAXMSS);
        if (v > 0 && v < this.tcp.cfg.minmss) throw new Errno(EINVAL);
        tp.t_usermss = v;
        if (v > 0 && tp.state < TCPS_ESTABLISHED) tp.t_maxseg = tp.t_maxopd = v;
        return;
      }
      case TCP_KEEPIDLE:
      case TCP_KEEPINTVL:
      case TCP_KEEPINIT: {
        const ms = intOpt(value, 1, 0x7fffffff / 1000) * 1000;
        if (name === TCP_KEEPIDLE) {
          tp.t_keepidle = ms;
          if (tp.keepAt !== 0 && tp.state >= TCPS_ESTABLISHED) tcpTimerKeepArm(tp, ms);
        } else if (name === TCP_KEEPINTVL) {
          tp.t_keepintvl = ms;
        } else {
          tp.t_keepinit = ms;
          // A connect already under way gets the new limit from now.
          if (tp.keepAt !== 0 && tp.state < TCPS_ESTABLISHED) tcpTimerKeepArm(tp, ms);
        }
        return;
      }
      case TCP_KEEPCNT:
        tp.t_keepcnt = intOpt(value, 1, 0x7fffffff);
        return;
      case TCP_CONGCTL: {
        const algo = ccByName(ccNameOf(value));
        if (algo === undefined) throw new Errno(ENOENT);
        if (algo !== tp.ccAlgo) {
          tp.ccAlgo = algo;
          tp.cc.ccData = null;
          if (tp.state >= TCPS_ESTABLISHED) {
            const cwnd = tp.cc.cwnd;
            const ssthresh = tp.cc.ssthresh;
            algo.init(tp.cc);
            // Switching algorithms keeps the window the connection has earned.
            tp.cc.cwnd = cwnd;
            tp.cc.ssthresh = ssthresh;
          }
        }
        return;
      }
      case TCP_FASTOPEN: {
        // FreeBSD: a listener serves Fast Open only with server_enable (else
        // EPERM); a socket not yet connecting uses it with client_enable.
        const v = typeof value === 'object' && value !== null && !(value instanceof Uint8Array) ? (value as Record<string, unknown>)['enable'] : value;
        if (typeof v !== 'number' || !Number.isInteger(v)) throw new Errno(EINVAL);
        if (v === 0) {
          tp.tfoFlags &= ~TFO_ENABLED;
          return;
        }
        if (tp.state === TCPS_LISTEN) {
          if (!this.tcp.cfg.fastopenServerEnable) throw new Errno(EPERM);
        } else if (tp.state !== TCPS_CLOSED || !this.tcp.cfg.fastopenClientEnable) throw new Errno(EINVAL);
        tp.tfoFlags |= TFO_ENABLED;
        return;
      }
      case TCP_REMOTE_UDP_ENCAPS_PORT: {
        // FreeBSD: only with the tunnel on, and before the connection starts.
        const port = intOpt(value, 0, 65535);
        if (port !== 0 && this.tcp.cfg.udpTunnelingPort === 0) throw new Errno(EINVAL);
        if (tp.state !== TCPS_CLOSED) throw new Errno(EINVAL);
        tp.t_port = port;
        return;
      }
      case TCP_INFO:
        throw new Errno(EINVAL);
      default:
        throw new Errno(ENOPROTOOPT);
    }
  }

  getopt(so: Socket, level: number, name: number): SockoptValue {
    const tp = sototp(so);
    if (level === IPPROTO_IP && this.family === AF_INET) return inPcbGetopt(tp.inp, name, false);
    if (level === IPPROTO_IPV6 && this.family === AF_INET6) return in6PcbGetopt(tp.inp, name);
    if (level !== IPPROTO_TCP) throw new Errno(ENOPROTOOPT);
    switch (name) {
      case TCP_NODELAY:
        return tp.flags & TF_NODELAY ? 1 : 0;
      case TCP_NOPUSH:
        return tp.flags & TF_NOPUSH ? 1 : 0;
      case TCP_NOOPT:
        return tp.flags & TF_NOOPT ? 1 : 0;
      case TCP_MAXSEG:
        return tp.t_maxseg;
      case TCP_KEEPIDLE:
        return Math.floor(tp.t_keepidle / 1000);
      case TCP_KEEPINTVL:
        return Math.floor(tp.t_keepintvl / 1000);
      case TCP_KEEPINIT:
        return Math.floor(tp.t_keepinit / 1000);
      case TCP_KEEPCNT:
        return tp.t_keepcnt;
      case TCP_CONGCTL:
        return new TextEncoder().encode(tp.ccAlgo.name);
      case TCP_INFO:
        return tcpInfo(tp);
      case TCP_FASTOPEN:
        return tp.tfoFlags & TFO_ENABLED ? 1 : 0;
      case TCP_REMOTE_UDP_ENCAPS_PORT:
        return tp.t_port;
      default:
        throw new Errno(ENOPROTOOPT);
    }
  }

  /** An AF_INET6 socket whose connection is IPv4 (dual stack) shows it v4-mapped. */
  sockaddr(so: Socket): Sockaddr {
    const inp = sototp(so).inp;
    return addrToSockaddr(inp.localInto(this.dst), inp.lport, this.family);
  }

  peeraddr(so: Socket): Sockaddr {
    const inp = sototp(so).inp;
    return addrToSockaddr(inp.foreignInto(this.dst), inp.fport, this.family);
  }

  ioctl(_so: Socket, cmd: string, arg: unknown): unknown {
    return ifioctl(this.tcp.inet.ns, cmd, arg);
  }
}

/** TCP_INFO (FreeBSD struct tcp_info names; times in microseconds). */
export function tcpInfo(tp: TcpCb): Record<string, number | string> {
  let options = 0;
  if ((tp.flags & (TF_REQ_TSTMP | TF_RCVD_TSTMP)) === (TF_REQ_TSTMP | TF_RCVD_TSTMP)) options |= TCPI_OPT_TIMESTAMPS;
  if (tp.flags & TF_SACK_PERMIT) options |= TCPI_OPT_SACK;
  if ((tp.flags & (TF_REQ_SCALE | TF_RCVD_SCALE)) === (TF_REQ_SCALE | TF_RCVD_SCALE)) options |= TCPI_OPT_WSCALE;
  if (tp.ecnFlags & ECN_PERMIT) options |= TCPI_OPT_ECN;
  if (tp.state < TCPS_ESTABLISHED && tp.state !== TCPS_SYN_RECEIVED) options = 0;
  const k = tp.tcp.kernel;
  return {
    tcpi_state: tp.state,
    tcpi_state_name: TCP_STATE_NAMES[tp.state] ?? 'CLOSED',
    tcpi_options: options,
    tcpi_snd_wscale: tp.snd_scale,
    tcpi_rcv_wscale: tp.rcv_scale,
    tcpi_rto: tp.t_rxtcur * 1000,
    tcpi_last_data_recv: Math.max(0, Math.floor(k.host.now() - tp.t_rcvtime)) * 1000,
    tcpi_rtt: Math.round(tp.rtt.srtt * 1000),
    tcpi_rttvar: Math.round(tp.rtt.rttvar * 1000),
    tcpi_snd_ssthresh: tp.cc.ssthresh,
    tcpi_snd_cwnd: tp.cc.cwnd,
    tcpi_rcv_space: Math.max(0, tp.so.rcv.hiwat - tp.so.rcv.cc),
    tcpi_snd_wnd: tp.snd_wnd,
    tcpi_snd_nxt: tp.snd_nxt,
    tcpi_rcv_nxt: tp.rcv_nxt,
    tcpi_snd_mss: tp.t_maxseg,
    tcpi_rcv_mss: tp.t_ourmss,
    tcpi_cc: tp.ccAlgo.name,
  };
}

/**
 * tcp_connect: the ISN (RFC 6528), window scale from kern.ipc.maxsockbuf
 * (RFC 7323 §2.3), the per-connection timestamp offset (RFC 7323 §7.1),
 * SYN_SENT with the establishment timer (keepinit), and the SYN.
 */
export function tcpConnect(tp: TcpCb): void {
  const tcp = tp.tcp;
  const cfg = tcp.cfg;
  const inp = tp.inp;
  const now = tcp.kernel.host.now();
  if (tp.flags & TF_NOOPT) tp.flags &= ~(TF_REQ_SCALE | TF_REQ_TSTMP | TF_REQ_SACK);
  const laddr = inp.localInto(tcp.scratchSrc);
  const faddr = inp.foreignInto(tcp.scratchDst);
  tp.iss = tcpNewIsn(tcp.isnKey, now, laddr, inp.lport, faddr, inp.fport);
  tp.snd_una = tp.snd_nxt = tp.snd_max = tp.snd_up = tp.snd_recover = tp.iss;
  tp.request_r_scale = tp.flags & TF_REQ_SCALE ? tcpRequestScale(cfg.maxsockbuf) : 0;
  if (!cfg.tsOffsetPerConn) tp.ts_offset = 0;
  else tp.ts_offset = tcpNewTsOffset(tcp.isnKey, laddr, inp.lport, faddr, inp.fport);
  tp.t_ourmss = tp.flags & TF_NOOPT ? cfg.mssdflt : tcpMssOpt(tcp, faddr) - (tp.t_port !== 0 ? cfg.udpTunnelingOverhead : 0);
  tp.t_starttime = now;
  tp.state = TCPS_SYN_SENT;
  tcp.stat.connattempt++;
  tp.so.state |= SS_ISCONNECTING;
  tcpTimerKeepArm(tp, tp.t_keepinit);
  // Fast Open with a cookie cached: the SYN may carry what the socket
  // holds (an implied connect's data), one segment of the server's MSS.
  if (tp.tfoFlags & TFO_ENABLED && cfg.fastopenClientEnable) {
    const mss = tcpFastOpenConnect(tp);
    if (mss > 0) tcpMss(tp, mss);
  }
  tcpOutput(tp);
}

/**
 * A local port for a connect without bind: RFC 6056 §3.3.4, Algorithm 4
 * ("double-hash"). The search starts at an offset hashed from the
 * destination with a secret key (unguessable by an outsider), plus a
 * counter per hash bucket that moves on with every connection: connections
 * to one peer walk the whole ephemeral range before a port comes round
 * again, which keeps new connections away from four-tuples still in
 * TIME_WAIT at the peer. A port is taken when no unconnected socket of
 * ours overlaps it and no connection uses it with this same remote end
 * (FreeBSD in_pcb_lport_dest: ports are shared between peers). When every
 * port is taken for this peer, a TIME_WAIT connection to it that can
 * safely be recycled gives up its port.
 */
function tcpConnectEphemeral(tcp: Tcp, tp: TcpCb, table: InPcbTable, faddr: InAddr, fport: number, laddr: InAddr): void {
  const inp = tp.inp;
  if (!inp.localIsAny()) inp.localInto(laddr);
  else if (!table.selectSrc(faddr, laddr)) throw new Errno(ENETUNREACH);
  const chosen = tcpEphemeralPort(
    tcp, table, tupleHash(tcp.isnKey, HASH_PORT_OFFSET, laddr, 0, faddr, fport, 0),
    tupleHash(tcp.isnKey, HASH_PORT_INDEX, laddr, 0, faddr, fport, 0), laddr, faddr, fport,
  );
  table.insertConnected(inp, laddr, chosen, faddr, fport);
}

/**
 * A dual-stack AF_INET6 socket connecting to a v4-mapped address (NetBSD
 * in6_pcbconnect's mapped case): its connection is IPv4, so it trades its
 * IPv6 PCB for one in the IPv4 table, keeping the port (and a v4-mapped
 * address) it was bound to. EINVAL with IPV6_V6ONLY on or bound to an IPv6
 * address, as NetBSD answers; ENETUNREACH (nothing moved) without a route.
 */
function tcpMoveToInet(tcp: Tcp, tp: TcpCb, faddr: InAddr): void {
  const old = tp.inp;
  if (!old.takesV4()) throw new Errno(EINVAL);
  if (old.localIsAny() && inSelectSrc(tcp.inet, faddr.v4()) === 0) throw new Errno(ENETUNREACH);
  const table = tcp.inet.tcbtable;
  const inp = table.attach(tp.so, IPPROTO_TCP);
  inp.ttl = old.ttl;
  inp.tos = old.tos;
  const laddr = old.localInto(new InAddr());
  const lport = old.lport;
  old.table.detach(old);
  if (lport !== 0) table.adoptBound(inp, laddr, lport);
  tp.inp = inp;
}

/** What a PCB on a candidate port says about our four-tuple (tcpEphemeralPort). */
const PORT_SHARED = 0;
const PORT_OVERLAPS = 1;
const PORT_SAME_PEER = 2;

/**
 * Does `o` stop us using its port towards this peer? A listener or
 * unconnected PCB overlapping our local address does (PORT_OVERLAPS); a
 * connection to the same peer from an overlapping address does
 * (PORT_SAME_PEER: one in TIME_WAIT may be recycled); others share it.
 */
function portConflict(o: InPcb, laddr: InAddr, faddr: InAddr, fport: number): number {
  const localOverlaps = o.localIsAny() || o.localIs(laddr);
  if (o.foreignIsAny()) return localOverlaps ? PORT_OVERLAPS : PORT_SHARED;
  return o.fport === fport && o.foreignIs(faddr) && localOverlaps ? PORT_SAME_PEER : PORT_SHARED;
}

/**
 * RFC 6056 §3.3.4's search: walk the range from the
 * tuple's offset (F(), `offsetHash`), advancing the counter table[G()]
 * (`indexHash`), and take the first port
 * no PCB on it forbids (portConflict). When all are taken, a TIME_WAIT
 * connection to this peer that can safely be recycled gives up its port;
 * otherwise EAGAIN.
 */
function tcpEphemeralPort(
  tcp: Tcp, table: InPcbTable, offsetHash: number, indexHash: number, laddr: InAddr, faddr: InAddr, fport: number,
): number {
  const min = tcp.inet.anonPortMin;
  const n = tcp.inet.anonPortMax - min + 1;
  const offset = offsetHash % n;
  const counters = tcp.portTable;
  const idx = indexHash & (counters.length - 1);
  const now = tcp.kernel.host.now();
  let recycle: TcpCb | null = null;
  for (let count = n; count > 0; count--) {
    const port = min + ((offset + (counters[idx]! % n)) % n);
    counters[idx] = (counters[idx]! + 1) >>> 0;
    const set = table.onPort(port);
    if (set === undefined) return port;
    let ok = true;
    for (const o of set) {
      const c = portConflict(o, laddr, faddr, fport);
      if (c === PORT_SHARED) continue;
      ok = false;
      if (c === PORT_SAME_PEER && recycle === null) {
        const otp = sototcpcb(o.so);
        if (otp !== null && otp.state === TCPS_TIME_WAIT && twRecycleable(otp, now)) recycle = otp;
      }
      break;
    }
    if (ok) return port;
  }
  if (recycle === null) throw new Errno(EAGAIN);
  const port = recycle.inp.lport;
  tcpClose(recycle);
  tcp.stat.tw_reuse++;
  return port;
}

/**
 * tcp_disconnect: before ESTABLISHED the connection simply goes; SO_LINGER
 * with a zero timeout aborts it with an RST; otherwise the socket is
 * disconnecting and our FIN follows the queued data.
 */
export function tcpDisconnect(tp: TcpCb): void {
  const so = tp.so;
  if (tp.state < TCPS_ESTABLISHED) {
    tcpClose(tp);
    return;
  }
  if (so.options & SO_LINGER && so.linger === 0) {
    tcpDrop(tp, 0);
    return;
  }
  so.state |= SS_ISDISCONNECTING;
  tcpUsrClosed(tp);
  if (tp.tcp.tcbs.has(tp)) tcpOutput(tp);
}

/**
 * tcp_usrclosed: the user will send no more. ESTABLISHED → FIN_WAIT_1,
 * CLOSE_WAIT → LAST_ACK (the FIN goes when the data has); a connection
 * still in its handshake either goes (SYN_SENT) or sends its FIN once
 * established (SYN_RECEIVED, TF_NEEDFIN).
 */
export function tcpUsrClosed(tp: TcpCb): void {
  switch (tp.state) {
    case TCPS_CLOSED:
    case TCPS_LISTEN:
    case TCPS_SYN_SENT:
      tcpClose(tp);
      return;
    case TCPS_SYN_RECEIVED:
      tp.flags |= TF_NEEDFIN;
      return;
    case TCPS_ESTABLISHED:
      tp.state = TCPS_FIN_WAIT_1;
      break;
    case TCPS_CLOSE_WAIT:
      tp.state = TCPS_LAST_ACK;
      break;
  }
  if (tp.state >= TCPS_FIN_WAIT_2) {
    // Nothing more will come from the user or from the peer's side we wait on.
    tp.so.isDisconnected();
    if (tp.state === TCPS_FIN_WAIT_2) tcpTimer2mslArm(tp, TCP_FINWAIT2_TIMEOUT);
  }
}

/* ------------------------------------------------------------------------ */
/* Attaching TCP to a kernel: state, keys, sysctls, netstat. */

/** A FreeBSD-defaults profile, the preamble every FreeBSD packetdrill script sets. */
export const FREEBSD_TCP_PROFILE: ReadonlyArray<readonly [string, number]> = [
  ['net.inet.tcp.rfc1323', 1],
  ['net.inet.tcp.sack.enable', 1],
  ['net.inet.tcp.ecn.enable', 2],
  ['net.inet.tcp.blackhole', 0],
  ['kern.ipc.maxsockbuf', 2097152],
  ['net.inet.tcp.recvspace', 65536],
  ['net.inet.tcp.sendspace', 32768],
  ['net.inet.tcp.mssdflt', 536],
  ['net.inet.tcp.rexmit_initial', 1000],
  ['net.inet.tcp.rexmit_min', 30],
  ['net.inet.tcp.rexmit_slop', 200],
  ['net.inet.tcp.rexmit_drop_options', 0],
  ['net.inet.tcp.delacktime', 40],
  ['net.inet.tcp.keepinit', 75000],
  ['net.inet.tcp.keepidle', 7200000],
  ['net.inet.tcp.keepintvl', 75000],
  ['net.inet.tcp.keepcnt', 8],
  ['net.inet.tcp.msl', 30000],
  ['net.inet.tcp.insecure_rst', 0],
  ['net.inet.tcp.insecure_syn', 0],
  ['net.inet.tcp.icmp_may_rst', 1],
  ['net.inet.tcp.drop_synfin', 0],
  ['net.inet.tcp.syncookies', 1],
  ['net.inet.tcp.syncookies_only', 0],
];

/** The per-kernel TCP: state, keys from the hypercall random source, SYN cache. */
export function tcpAttach(inet: Inet): Tcp {
  const k = inet.kernel;
  const tcp = new Tcp(inet);
  const key = new Uint8Array(16);
  k.host.randomFill(key);
  tcp.isnKey = new SipHash24(key);
  const c0 = new Uint8Array(16);
  const c1 = new Uint8Array(16);
  k.host.randomFill(c0);
  k.host.randomFill(c1);
  tcp.cookieKeys = [new SipHash24(c0), new SipHash24(c1)];
  tcp.cookieRotatedAt = k.host.now();
  tcp.syncache = new SynCache(tcp);
  inet.tcp = tcp;
  tcpSysctls(tcp);
  k.onHalt(() => tcp.syncache.clear());
  return tcp;
}

/** What `ext('tcpdrop', ...)` takes: a four-tuple (IPv4 or IPv6 text), or a state name (`TIME_WAIT`). */
export interface TcpDropArg {
  laddr?: string;
  lport?: number;
  faddr?: string;
  fport?: number;
  state?: string;
}

/** `ext('tcpdrop', ...)`: drop connections by four-tuple (IPv4 or IPv6 text) or by state name (tcpdrop(8)). */
export function tcpDropCommand(tcp: Tcp, arg: unknown): number {
  // It may come from a remote client: checked below, not trusted to be a TcpDropArg.
  const a = (arg ?? {}) as TcpDropArg;
  let n = 0;
  const byTuple = typeof a.state !== 'string';
  const l = new InAddr();
  const f = new InAddr();
  if (byTuple && (!parseAddr(a.laddr ?? '', l) || !parseAddr(a.faddr ?? '', f))) throw new Errno(EINVAL);
  for (const tp of [...tcp.tcbs]) {
    const inp = tp.inp;
    if (!byTuple) {
      if (TCP_STATE_NAMES[tp.state] !== a.state) continue;
    } else {
      if (inp.lport !== (a.lport ?? 0) || inp.fport !== (a.fport ?? 0)) continue;
      if (!inp.localIs(l) || !inp.foreignIs(f)) continue;
    }
    if (tp.state === TCPS_LISTEN) continue;
    if (tp.state === TCPS_TIME_WAIT) tcpClose(tp);
    else tcpDrop(tp, 53 /* ECONNABORTED */);
    n++;
  }
  return n;
}

/** An address in either family's text into `out` (IPv4 v4-mapped); false when it is neither. */
function parseAddr(text: string, out: InAddr): boolean {
  const v4 = parseInAddr(text);
  if (v4 !== null) {
    out.setV4(v4);
    return true;
  }
  const v6 = parseIn6Addr(text);
  if (v6 === null) return false;
  out.load(v6, 0);
  return true;
}

/** net.inet.tcp.* (FreeBSD's names; times in milliseconds as FreeBSD takes them). */
function tcpSysctls(tcp: Tcp): void {
  const sc = tcp.kernel.sysctl;
  const cfg = tcp.cfg;
  const int = (name: string, get: () => number, set: (v: number) => void, min: number, max: number, desc: string): void => {
    sc.int(`net.inet.tcp.${name}`, get, set, min, max, desc);
  };
  const SB_MAX = 64 * 1024 * 1024;
  int('sendspace', () => cfg.sendspace, (v) => { cfg.sendspace = v; }, 1, SB_MAX, 'Initial send socket buffer size');
  int('recvspace', () => cfg.recvspace, (v) => { cfg.recvspace = v; }, 1, SB_MAX, 'Initial receive socket buffer size');
  int('sendbuf_auto', () => cfg.sendbufAuto, (v) => { cfg.sendbufAuto = v; }, 0, 1, 'Enable automatic send socket buffer sizing');
  int('sendbuf_inc', () => cfg.sendbufInc, (v) => { cfg.sendbufInc = v; }, 1, SB_MAX, 'Incrementor step size of automatic send socket buffer');
  int('sendbuf_max', () => cfg.sendbufMax, (v) => { cfg.sendbufMax = v; }, 1, SB_MAX, 'Maximum size of automatic send socket buffer');
  int('recvbuf_auto', () => cfg.recvbufAuto, (v) => { cfg.recvbufAuto = v; }, 0, 1, 'Enable automatic receive socket buffer sizing');
  int('recvbuf_inc', () => cfg.recvbufInc, (v) => { cfg.recvbufInc = v; }, 1, SB_MAX, 'Incrementor step size of automatic receive socket buffer');
  int('recvbuf_max', () => cfg.recvbufMax, (v) => { cfg.recvbufMax = v; }, 1, SB_MAX, 'Maximum size of automatic receive socket buffer');
  int('mssdflt', () => cfg.mssdflt, (v) => { cfg.mssdflt = v; }, 88, 65535, 'Default TCP Maximum Segment Size');
  int('minmss', () => cfg.minmss, (v) => { cfg.minmss = v; }, 1, 65535, 'Minimum TCP Maximum Segment Size');
  int('rfc1323', () => cfg.rfc1323, (v) => { cfg.rfc1323 = v; }, 0, 3, 'Enable RFC 7323 window scaling and timestamps');
  int('sack.enable', () => cfg.sack, (v) => { cfg.sack = v; }, 0, 1, 'Enable RFC 2018 selective acknowledgments');
  int('delacktime', () => cfg.delacktime, (v) => { cfg.delacktime = v; }, 1, 0x7fffffff, 'Delayed ACK timeout (ms)');
  int('delack_ticks', () => Math.round(cfg.delacktime / 10), (v) => { cfg.delacktime = v * 10; }, 1, 0x7fffffff / 10,
    'Delayed ACK timeout in ticks of 10 ms (NetBSD)');
  int('rexmit_initial', () => cfg.rexmitInitial, (v) => { cfg.rexmitInitial = v; }, 1, 0x7fffffff, 'Initial retransmission timeout (ms)');
  int('rexmit_min', () => cfg.rexmitMin, (v) => { cfg.rexmitMin = v; }, 1, 0x7fffffff, 'Minimum retransmission timeout (ms)');
  int('rexmit_slop', () => cfg.rexmitSlop, (v) => { cfg.rexmitSlop = v; }, 0, 0x7fffffff, 'Retransmission timer slop (ms)');
  int('rexmit_drop_options', () => cfg.rexmitDropOptions, (v) => { cfg.rexmitDropOptions = v; }, 0, 1,
    'Drop TCP options from the 3rd and later retransmitted SYN');
  int('keepinit', () => cfg.keepinit, (v) => { cfg.keepinit = v; }, 1, 0x7fffffff, 'Connection establishment timeout (ms)');
  int('keepidle', () => cfg.keepidle, (v) => { cfg.keepidle = v; }, 1, 0x7fffffff, 'Time before keepalive probes begin (ms)');
  int('keepintvl', () => cfg.keepintvl, (v) => { cfg.keepintvl = v; }, 1, 0x7fffffff, 'Time between keepalive probes (ms)');
  int('keepcnt', () => cfg.keepcnt, (v) => { cfg.keepcnt = v; }, 1, 0x7fffffff, 'Number of keepalive probes before dropping');
  int('msl', () => cfg.msl, (v) => { cfg.msl = v; }, 1, 0x7fffffff, 'Maximum segment lifetime (ms); TIME_WAIT is 2*msl');
  int('mslt.enable', () => cfg.msltEnable, (v) => { cfg.msltEnable = v; }, 0, 1, 'Enable TIME_WAIT truncation');
  int('mslt.loopback', () => cfg.msltLoopback, (v) => { cfg.msltLoopback = v; }, 1, 0x7fffffff, 'MSL value to use for loopback connections (ms)');
  int('insecure_rst', () => cfg.insecureRst, (v) => { cfg.insecureRst = v; }, 0, 1, 'Follow RFC 793 instead of RFC 5961 for RST');
  int('insecure_syn', () => cfg.insecureSyn, (v) => { cfg.insecureSyn = v; }, 0, 1, 'Follow RFC 793 instead of RFC 5961 for SYN');
  int('ack_war_timewindow', () => cfg.ackWarTimewindow, (v) => { cfg.ackWarTimewindow = v; }, 0, 0x7fffffff,
    'Window (ms) in which at most ack_war_cnt challenge ACKs are sent');
  int('ack_war_cnt', () => cfg.ackWarCnt, (v) => { cfg.ackWarCnt = v; }, 0, 0x7fffffff, 'Challenge ACKs per ack_war_timewindow');
  int('syncookies', () => cfg.syncookies, (v) => { cfg.syncookies = v; }, 0, 1, 'Use SYN cookies when the SYN cache overflows');
  int('syncookies_only', () => cfg.syncookiesOnly, (v) => { cfg.syncookiesOnly = v; }, 0, 1, 'Use only SYN cookies');
  int('syncache.cachelimit', () => cfg.syncacheLimit, (v) => { cfg.syncacheLimit = v; }, 1, 0x7fffffff, 'SYN cache size');
  int('syncache.bucketlimit', () => cfg.syncacheBucketLimit, (v) => { cfg.syncacheBucketLimit = v; }, 1, 0x7fffffff,
    'SYN cache entries per hash bucket');
  int('syncache.rexmtlimit', () => cfg.syncacheRexmtLimit, (v) => { cfg.syncacheRexmtLimit = v; }, 0, 100, 'SYN-ACK retransmissions');
  // NetBSD's names for the same two bounds.
  int('syn_cache_limit', () => cfg.syncacheLimit, (v) => { cfg.syncacheLimit = v; }, 1, 0x7fffffff, 'SYN cache size (NetBSD)');
  int('syn_bucket_limit', () => cfg.syncacheBucketLimit, (v) => { cfg.syncacheBucketLimit = v; }, 1, 0x7fffffff,
    'SYN cache entries per hash bucket (NetBSD)');
  sc.create('net.inet.tcp.syncache.count', { type: 'int', description: 'SYN cache entries', get: () => tcp.syncache.size });
  int('reass.maxqueuelen', () => cfg.reassMaxqueuelen, (v) => { cfg.reassMaxqueuelen = v; }, 1, 0x7fffffff,
    'Out-of-order segments held per connection');
  int('blackhole', () => cfg.blackhole, (v) => { cfg.blackhole = v; }, 0, 2, 'Do not send RST to segments for closed ports');
  int('drop_synfin', () => cfg.dropSynfin, (v) => { cfg.dropSynfin = v; }, 0, 1, 'Drop segments with both SYN and FIN');
  int('icmp_may_rst', () => cfg.icmpMayRst, (v) => { cfg.icmpMayRst = v; }, 0, 1, 'Hard ICMP errors may abort a connect');
  int('ecn.enable', () => cfg.ecn, (v) => { cfg.ecn = v; }, 0, 2, 'ECN: 0 off, 1 request and accept, 2 accept when requested');
  int('fastopen.server_enable', () => cfg.fastopenServerEnable, (v) => { cfg.fastopenServerEnable = v; }, 0, 1,
    'Serve TCP Fast Open on listeners with TCP_FASTOPEN');
  int('fastopen.client_enable', () => cfg.fastopenClientEnable, (v) => { cfg.fastopenClientEnable = v; }, 0, 1,
    'Use TCP Fast Open on sockets with TCP_FASTOPEN');
  int('udp_tunneling_port', () => cfg.udpTunnelingPort, (v) => { cfg.udpTunnelingPort = v; }, 0, 65535,
    'Local UDP port of TCP over UDP (0: off)');
  int('udp_tunneling_overhead', () => cfg.udpTunnelingOverhead, (v) => { cfg.udpTunnelingOverhead = v; }, 8, 1024,
    'Bytes TCP over UDP takes from the MSS');
  int('tolerate_missing_ts', () => cfg.tolerateMissingTs, (v) => { cfg.tolerateMissingTs = v; }, 0, 1,
    'Process segments without the timestamps the connection agreed to');
  int('ecn.maxretries', () => cfg.ecnMaxretries, (v) => { cfg.ecnMaxretries = v; }, 0, 0x7fffffff,
    'SYN and SYN-ACK retransmissions that still ask for ECN');
  int('rfc3042', () => cfg.rfc3042, (v) => { cfg.rfc3042 = v; }, 0, 1, 'Enable RFC 3042 limited transmit');
  int('ts_offset_per_conn', () => cfg.tsOffsetPerConn, (v) => { cfg.tsOffsetPerConn = v; }, 0, 1, 'Per-connection timestamp offsets');
  int('path_mtu_discovery', () => cfg.mtudisc, (v) => { cfg.mtudisc = v; }, 0, 1, 'Honour ICMP fragmentation needed');
  int('hostcache.purgenow', () => 0, () => {}, 0, 1, 'Flush the host cache (there is none: no-op)');
  sc.string('net.inet.tcp.congctl.selected', () => cfg.congctl, (v) => {
    const name = String(v).trim();
    if (ccByName(name) === undefined) throw new Errno(ENOENT, 'sysctl', 'net.inet.tcp.congctl.selected');
    cfg.congctl = name;
  }, 'Congestion control of new connections');
  sc.string('net.inet.tcp.congctl.available', () => ccNames().join(' '), null, 'Congestion control algorithms');
  sc.struct('net.inet.tcp.stats', () => ({ ...tcp.stat }), 'TCP statistics');
  if (!sc.has('kern.ipc.maxsockbuf')) {
    sc.int('kern.ipc.maxsockbuf', () => cfg.maxsockbuf, (v) => { cfg.maxsockbuf = v; }, 512, 0xffffffff,
      'Maximum socket buffer size (sets the window scale offered)');
  }
}
