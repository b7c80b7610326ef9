/*
 * Congestion control: the interface every algorithm implements and the
 * registry behind TCP_CONGESTION and net.inet.tcp.congctl.{selected,available}
 * (modelled on FreeBSD's struct cc_algo and NetBSD's tcp_congctl, written
 * fresh).
 *
 * Call order (T1 owns the tcpcb and the decisions, the algorithm owns the
 * window arithmetic):
 *   connection established       → algo.init(s)
 *   ACK advancing snd_una        → algo.ackReceived(s, acked, 'ack')
 *                                  (during recovery this is a partial ACK:
 *                                  the algorithm deflates, RFC 6582 §3.2 (5))
 *   duplicate ACK                → algo.ackReceived(s, 0, 'dupack')
 *                                  (during NewReno recovery: inflation, RFC 5681 §3.2 (4))
 *   3rd dup ACK / SACK loss      → algo.congSignal(s, 'dupack')   (enters recovery)
 *   retransmission timeout       → algo.congSignal(s, 'rto')
 *   ECN-Echo                     → algo.congSignal(s, 'ecn')
 *   ACK ≥ recover (full ACK)     → algo.postRecovery(s)   (instead of ackReceived)
 *   sending after idle > RTO     → algo.afterIdle(s)
 *
 * Before each call T1 refreshes s.flightsize (snd_max − snd_una, or the
 * RFC 6675 pipe during SACK recovery), s.now (ms) and s.srtt (ms).
 *
 * Units: cwnd, ssthresh, maxseg, flightsize in bytes; now, srtt in ms.
 */
import { CUBIC } from './cubic.js';
import { NEWRENO } from './newreno.js';

export { initialWindow, TCP_INFINITE_SSTHRESH, ABC_L } from './newreno.js';

export type CcAckKind = 'ack' | 'dupack';
export type CcSignal = 'dupack' | 'rto' | 'ecn';

/** What an algorithm reads and writes; embedded in (or owned by) the tcpcb. */
export interface CcState {
  cwnd: number;
  ssthresh: number;
  /** SMSS: the largest segment we send (t_maxseg less options). */
  maxseg: number;
  /** Bytes in flight: snd_max − snd_una, or the SACK pipe (RFC 6675 SetPipe). */
  flightsize: number;
  /** NewReno's recover (RFC 6582 §3.2): kept by T1, who knows snd_max. */
  recover: number;
  /** Now, in ms. */
  now: number;
  /** Smoothed RTT in ms; 0 when unknown. */
  srtt: number;
  /**
   * The connection recovers with SACK (RFC 6675): no window inflation on
   * entry or per dup ACK, cwnd untouched by partial ACKs (pipe governs).
   * Set by T1. Absent = false.
   */
  sack?: boolean;
  /** SYN (or SYN-ACK) retransmissions before establishment, for RFC 6928 §2. Absent = 0. */
  synRexmits?: number;
  /**
   * Between congSignal('dupack') and postRecovery() or an RTO. Maintained by
   * the algorithm; T1 may read it.
   */
  inRecovery?: boolean;
  /** The algorithm's private per-connection data (created by init or on first use). */
  ccData?: unknown;
}

/** Every algorithm. All methods are total: nonsense input never throws. */
export interface CcAlgo {
  readonly name: string;
  init(s: CcState): void;
  ackReceived(s: CcState, acked: number, kind: CcAckKind): void;
  congSignal(s: CcState, kind: CcSignal): void;
  postRecovery(s: CcState): void;
  afterIdle(s: CcState): void;
}

/**
 * A concrete, monomorphic CcState with every member present, for an
 * algorithm driven on its own (the tests). A tcpcb holds the same members
 * itself and is its own CcState (`tp.cc === tp`), so the hot path still
 * sees one shape.
 */
export class CcVars implements CcState {
  cwnd = 0;
  ssthresh = 0;
  maxseg = 536;
  flightsize = 0;
  recover = 0;
  now = 0;
  srtt = 0;
  sack = false;
  synRexmits = 0;
  inRecovery = false;
  ccData: unknown = null;
}

/** FreeBSD's TCP_CA_NAME_MAX: names longer than this are refused. */
export const CC_NAME_MAX = 16;

/** The default of net.inet.tcp.congctl.selected (NetBSD's and RFC 5681's). */
export const CC_DEFAULT = 'newreno';

const registry = new Map<string, CcAlgo>();

/**
 * Make an algorithm selectable by name. False (and nothing changes) when
 * the name is empty, too long, or taken — FreeBSD's EEXIST.
 */
export function registerCc(algo: CcAlgo): boolean {
  const name = algo.name;
  if (typeof name !== 'string' || name.length === 0 || name.length > CC_NAME_MAX) return false;
  if (registry.has(name)) return false;
  registry.set(name, algo);
  return true;
}

/** The algorithm called `name` (TCP_CONGESTION, congctl.selected), or undefined. */
export function ccByName(name: string): CcAlgo | undefined {
  return registry.get(name);
}

/** Registered names in registration order (net.inet.tcp.congctl.available). */
export function ccNames(): string[] {
  return [...registry.keys()];
}

registerCc(NEWRENO);
registerCc(CUBIC);
