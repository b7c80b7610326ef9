/*
 * TCP timers (BSD netinet/tcp_timer.c): retransmission, persist,
 * keepalive (also the connection-establishment and FIN_WAIT_2 limits),
 * 2MSL, and the delayed ACK.
 *
 * Timers are data (smoltcp, gVisor's lazy timers): `tp.rexmtAt` etc. hold
 * each timer's deadline (host ms, 0 = off), and each connection has ONE
 * callout, created with the TcpCb, armed no later than the earliest
 * deadline. Restarting the retransmission timer on every ACK only moves a
 * number; when the callout fires it runs the timers that are due and
 * re-arms itself for the next. Stopping a timer clears its deadline;
 * tcpClose stops the callout so nothing stays in the kernel's heap. The
 * callout is made when a timer is first armed and let go when it fires
 * with nothing left to run, or when the connection is established with no
 * timer set (tcpTimersIdle): an idle connection holds no callout and takes
 * no room in the kernel's heap (BSD embeds its callouts in the tcpcb; here
 * each would be an object of its own on every one of 100,000 idle ones).
 *
 *   callout → tcpTimersFire → tcpTimer* → state change / tcpOutput / tcpDrop
 */
import { tcpEcnCwndReduced } from './ecn.js';
import { ETIMEDOUT } from '../../../kern/errno.js';
import { SO_KEEPALIVE } from '../../socket.js';
import { TH_ACK } from '../../wire/tcp.js';
import {
  TCPS_CLOSING, TCPS_ESTABLISHED, TCPS_FIN_WAIT_2, TCPS_SYN_SENT, TCPS_TIME_WAIT,
} from './fsm.js';
import { tcpOutput } from './output.js';
import { tcpClose, tcpDrop, tcpRespondConn } from './subr.js';
import {
  DELACK_AT, KEEP_AT, MSL2_AT, PERSIST_AT, REXMT_AT, TCP_MAXRXTSHIFT, TF_ACKNOW, TF_DELACK, TF_FASTRECOVERY, TF_FORCEDATA, TF_REQ_SACK, TF_REQ_SCALE, TF_REQ_TSTMP,
  type TcpCb,
} from './var.js';

/** BSD TCPTV_PERSMIN / TCPTV_PERSMAX: the persist timer stays in [5 s, 60 s]. */
export const TCPTV_PERSMIN = 5000;
export const TCPTV_PERSMAX = 60000;
/** FreeBSD net.inet.tcp.fin_wait_2_timeout: an orphaned FIN_WAIT_2 lasts this long idle. */
export const TCP_FINWAIT2_TIMEOUT = 60000;

function now(tp: TcpCb): number {
  return tp.tcp.kernel.host.now();
}

/** Make sure the connection's callout fires no later than `at`. */
function arm(tp: TcpCb, at: number): void {
  let co = tp.timerCo;
  if (co === null) co = tp.timerCo = tp.tcp.kernel.callouts.create(tcpTimersFire, tp);
  if (co.heapIndex < 0 || co.deadline > at) co.resetAt(at);
}

export function tcpTimerRexmtArm(tp: TcpCb, ms: number): void {
  const v = tp.v;
  v[REXMT_AT] = now(tp) + ms;
  arm(tp, v[REXMT_AT]);
}

/** The same, when the caller already read the clock. */
export function tcpTimerRexmtArmAt(tp: TcpCb, now: number, ms: number): void {
  const v = tp.v;
  v[REXMT_AT] = now + ms;
  arm(tp, v[REXMT_AT]);
}

export function tcpTimerPersistArm(tp: TcpCb, ms: number): void {
  const v = tp.v;
  v[PERSIST_AT] = now(tp) + ms;
  arm(tp, v[PERSIST_AT]);
}

export function tcpTimerKeepArm(tp: TcpCb, ms: number): void {
  const v = tp.v;
  v[KEEP_AT] = now(tp) + ms;
  arm(tp, v[KEEP_AT]);
}

/**
 * How long TIME_WAIT lasts for this connection: 2 × its MSL. As NetBSD's
 * tcp_established picks the MSL, a connection whose local address is the
 * loopback address (127.0.0.1, ::1) uses net.inet.tcp.mslt.loopback, so a
 * program that opens and closes many connections on lo0 keeps each for
 * 2 s, not a minute; every other one uses net.inet.tcp.msl (FreeBSD's one
 * knob, which the packetdrill suites set: NetBSD's mslt.local class for
 * on-link peers is not applied).
 */
export function tcpTimeWaitMs(tp: TcpCb): number {
  const cfg = tp.tcp.cfg;
  // Either family: the local address is 127.0.0.1 (v4-mapped in an AF_INET6 PCB too) or ::1.
  if (cfg.msltEnable && tp.inp.localIsLoopback()) return 2 * cfg.msltLoopback;
  return 2 * cfg.msl;
}

export function tcpTimer2mslArm(tp: TcpCb, ms: number): void {
  const v = tp.v;
  v[MSL2_AT] = now(tp) + ms;
  arm(tp, v[MSL2_AT]);
}

export function tcpTimerDelackArm(tp: TcpCb, ms: number): void {
  const v = tp.v;
  if (v[DELACK_AT] !== 0) return;
  v[DELACK_AT] = now(tp) + ms;
  arm(tp, v[DELACK_AT]);
}

/** tcp_canceltimers, and the callout itself. */
export function tcpCancelTimers(tp: TcpCb): void {
  const v = tp.v;
  v[REXMT_AT] = v[PERSIST_AT] = v[KEEP_AT] = v[MSL2_AT] = v[DELACK_AT] = 0;
  tp.timerCo?.stop();
  tp.timerCo = null;
}

/**
 * No timer is set any more (a connection just established without
 * keepalive): take the callout out of the kernel's heap now rather than
 * when the establishment timer's old deadline comes round, and let it go.
 */
export function tcpTimersIdle(tp: TcpCb): void {
  const v = tp.v;
  const co = tp.timerCo;
  if (co === null || (v[REXMT_AT] | v[PERSIST_AT] | v[KEEP_AT] | v[MSL2_AT] | v[DELACK_AT]) !== 0) return;
  co.stop();
  tp.timerCo = null;
}

/** A timer is due when it is set and its deadline has come. */
function due(at: number, t: number): boolean {
  return at !== 0 && at <= t;
}

/**
 * The connection's callout fired: run every timer that is due, in BSD's
 * order (retransmission, persist, keepalive, 2MSL, delayed ACK), stopping
 * if one of them closes the connection; then re-arm for the earliest
 * deadline left.
 */
function tcpTimersFire(tp: TcpCb): void {
  const v = tp.v;
  const alive = tp.tcp.tcbs;
  let t = now(tp);
  // Each timer that runs may close the connection; a closed one has every
  // deadline 0 (tcpCancelTimers), so the deadline is tested first.
  if (due(v[REXMT_AT], t) && alive.has(tp)) {
    v[REXMT_AT] = 0;
    tcpTimerRexmt(tp);
  }
  if (due(v[PERSIST_AT], t) && alive.has(tp)) {
    v[PERSIST_AT] = 0;
    tcpTimerPersist(tp);
  }
  if (due(v[KEEP_AT], t) && alive.has(tp)) {
    v[KEEP_AT] = 0;
    tcpTimerKeep(tp);
  }
  if (due(v[MSL2_AT], t) && alive.has(tp)) {
    v[MSL2_AT] = 0;
    tcpTimer2msl(tp);
  }
  if (due(v[DELACK_AT], t) && alive.has(tp)) {
    v[DELACK_AT] = 0;
    tcpTimerDelack(tp);
  }
  if (!alive.has(tp)) return;
  let next = earlier(0, v[REXMT_AT]);
  next = earlier(next, v[PERSIST_AT]);
  next = earlier(next, v[KEEP_AT]);
  next = earlier(next, v[MSL2_AT]);
  next = earlier(next, v[DELACK_AT]);
  t = now(tp);
  if (next !== 0) arm(tp, next < t ? t : next);
  // Nothing left to run: the callout (already out of the heap) goes.
  else if (tp.timerCo !== null && tp.timerCo.heapIndex < 0) tp.timerCo = null;
}

/** The earlier of two deadlines, 0 meaning "none". */
function earlier(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return a < b ? a : b;
}

/**
 * The retransmission timer (RFC 6298 §5, RFC 9293 §3.8.1): back off, give
 * up after TCP_MAXRXTSHIFT, otherwise go back to snd_una, collapse the
 * congestion window (RFC 5681 §3.1) and resend.
 */
function tcpTimerRexmt(tp: TcpCb): void {
  const tcp = tp.tcp;
  const st = tcp.stat;
  st.rexmttimeo++;
  if (++tp.t_rxtshift > TCP_MAXRXTSHIFT) {
    tp.t_rxtshift = TCP_MAXRXTSHIFT;
    st.timeoutdrop++;
    tcpDrop(tp, ETIMEDOUT);
    return;
  }
  if (tp.state === TCPS_SYN_SENT) {
    tp.t_synrexmits++;
    tp.cc.synRexmits = tp.t_synrexmits;
    // Options a broken middlebox might choke on go after the third SYN
    // (FreeBSD net.inet.tcp.rexmit_drop_options).
    if (tcp.cfg.rexmitDropOptions && tp.t_rxtshift === 3) tp.flags &= ~(TF_REQ_SCALE | TF_REQ_TSTMP | TF_REQ_SACK);
  } else if (tp.state < TCPS_ESTABLISHED) {
    tp.t_synrexmits++;
    tp.cc.synRexmits = tp.t_synrexmits;
  }
  // After a quarter of the retries the RTT estimate is probably stale
  // (BSD: in_losing); measure afresh.
  if (tp.t_rxtshift > TCP_MAXRXTSHIFT / 4) tp.rtt.discard();
  tp.t_rxtcur = tp.rtt.backoff(tp.t_rxtshift);
  // Go back N (RFC 9293 §3.8.1), Karn's rule (RFC 6298 §3): no RTT sample
  // from what we are about to resend.
  tp.snd_nxt = tp.snd_una;
  tp.t_rtttime = 0;
  tp.snd_recover = tp.snd_max;
  tp.t_dupacks = 0;
  if (tp.state >= TCPS_ESTABLISHED) {
    // RFC 5681 §3.1 (4) and RFC 6675 §5.1: cwnd to one segment, forget
    // SACK information for choosing what to resend.
    const cc = tp.cc;
    cc.flightsize = (tp.snd_max - tp.snd_una) >>> 0;
    cc.now = now(tp);
    cc.srtt = tp.rtt.srtt;
    tp.ccAlgo.congSignal(cc, 'rto');
    tcpEcnCwndReduced(tp);
    tp.flags &= ~TF_FASTRECOVERY;
    tp.sackSb?.clear();
  }
  tcpOutput(tp);
}

/**
 * tcp_setpersist: arm the persist timer with the backed-off RTO, clamped
 * to [TCPTV_PERSMIN, TCPTV_PERSMAX] (RFC 9293 §3.8.6.1).
 */
export function tcpSetPersist(tp: TcpCb): void {
  let t = tp.rtt.backoff(tp.t_rxtshift);
  if (t < TCPTV_PERSMIN) t = TCPTV_PERSMIN;
  if (t > TCPTV_PERSMAX) t = TCPTV_PERSMAX;
  if (tp.t_persistStart === 0) tp.t_persistStart = now(tp);
  tcpTimerPersistArm(tp, t);
  if (tp.t_rxtshift < TCP_MAXRXTSHIFT) tp.t_rxtshift++;
}

/**
 * The persist timer: send a window probe (one byte beyond the closed
 * window). A peer that keeps the window shut and never answers for
 * maxpersistidle is dropped (FreeBSD's tcp_maxpersistidle).
 */
function tcpTimerPersist(tp: TcpCb): void {
  const tcp = tp.tcp;
  tcp.stat.persisttimeo++;
  const idle = now(tp) - tp.t_rcvtime;
  if (tp.t_rxtshift >= TCP_MAXRXTSHIFT && idle >= tcp.cfg.maxpersistidle) {
    tcp.stat.persistdrops++;
    tcpDrop(tp, ETIMEDOUT);
    return;
  }
  tcpSetPersist(tp);
  tp.flags |= TF_FORCEDATA;
  tcpOutput(tp);
  tp.flags &= ~TF_FORCEDATA;
}

/**
 * The keepalive timer, which BSD also uses for the connection-establishment
 * limit (keepinit): before ESTABLISHED, expiry drops the connection with
 * ETIMEDOUT. With SO_KEEPALIVE, after keepidle of silence send probes
 * (RFC 1122 §4.2.3.6: SEG.SEQ = SND.NXT-1 so the peer must answer) every
 * keepintvl; keepcnt unanswered probes drop it.
 */
function tcpTimerKeep(tp: TcpCb): void {
  const tcp = tp.tcp;
  const st = tcp.stat;
  st.keeptimeo++;
  if (tp.state < TCPS_ESTABLISHED) {
    st.keepdrops++;
    tcpDrop(tp, ETIMEDOUT);
    return;
  }
  if (tp.so.options & SO_KEEPALIVE && tp.state <= TCPS_CLOSING) {
    const idle = now(tp) - tp.t_rcvtime;
    if (idle < tp.t_keepidle) {
      tcpTimerKeepArm(tp, tp.t_keepidle - idle);
      return;
    }
    if (idle >= tp.t_keepidle + tp.t_keepcnt * tp.t_keepintvl) {
      st.keepdrops++;
      tcpDrop(tp, ETIMEDOUT);
      return;
    }
    st.keepprobe++;
    tp.t_keepprobes++;
    const inp = tp.inp;
    tcpRespondConn(tcp, tp, inp, (tp.snd_una - 1) >>> 0, tp.rcv_nxt, TH_ACK);
    tcpTimerKeepArm(tp, tp.t_keepintvl);
  }
}

/**
 * The 2MSL timer: TIME_WAIT ends (RFC 9293 §3.6.1); an orphaned
 * FIN_WAIT_2 that heard nothing for the FIN_WAIT_2 timeout is closed.
 */
function tcpTimer2msl(tp: TcpCb): void {
  if (tp.state === TCPS_TIME_WAIT) {
    tcpClose(tp);
    return;
  }
  if (tp.state === TCPS_FIN_WAIT_2) {
    const idle = now(tp) - tp.t_rcvtime;
    if (idle < TCP_FINWAIT2_TIMEOUT) {
      tcpTimer2mslArm(tp, TCP_FINWAIT2_TIMEOUT - idle);
      return;
    }
    tcpClose(tp);
  }
}

/** The delayed ACK is due (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2). */
function tcpTimerDelack(tp: TcpCb): void {
  if (!(tp.flags & TF_DELACK)) return;
  tp.flags |= TF_ACKNOW;
  tp.tcp.stat.delack++;
  tcpOutput(tp);
}
