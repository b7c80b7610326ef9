/*
 * Round-trip time estimation and the retransmission timeout (RFC 6298;
 * BSD tcp_xmit_timer / TCP_REXMTVAL / TCPT_RANGESET / tcp_backoff[]).
 *
 * Call order (T1):
 *   connection start        → new RttEstimator(profile)  (rto = rtoInitial)
 *   ACK of a timed segment  → sample(ms)  (Karn's rule is the caller's: only
 *                              never-retransmitted segments or TS echoes, RFC 6298 §3)
 *   arming the rexmt timer  → backoff(t_rxtshift)  (ms; shift 0 = rto)
 *   deep into backoff       → discard()  (BSD: after TCP_MAXRXTSHIFT/4 timeouts)
 *
 * Units are milliseconds. SRTT and RTTVAR are kept as exact (fractional)
 * values; the timeouts handed out are whole milliseconds, rounded up so a
 * timer never fires before the RFC's RTO.
 */

/** NetBSD netinet/tcp_timer.c tcp_backoff[]: the exponent stops growing at 64. */
export const TCP_BACKOFF_NETBSD: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 64, 64, 64, 64, 64, 64];
/** FreeBSD netinet/tcp_timer.c tcp_backoff[]: grows to 512 (the 64 s cap binds first for RTO ≥ 125 ms). */
export const TCP_BACKOFF_FREEBSD: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 512, 512, 512];

/** BSD TCP_MAXRXTSHIFT: the highest index of the backoff tables (12 retransmissions). */
export const TCP_MAXRXTSHIFT = 12;

export interface RttParams {
  /** RTO before the first sample (RFC 6298 (2.1): 1 s). */
  rtoInitial: number;
  /** Floor of a computed RTO (RFC 6298 (2.4) says 1 s; FreeBSD TCPTV_MIN is 30 ms). */
  rtoMin: number;
  /** Ceiling (RFC 6298 (2.5): at least 60 s; BSD TCPTV_REXMTMAX is 64 s). */
  rtoMax: number;
  /** Added to every computed timeout (FreeBSD net.inet.tcp.rexmit_slop, 200 ms; 0 elsewhere). */
  rtoSlop: number;
  /** G, the clock granularity (RFC 6298 §2): our clock ticks in 1 ms. */
  granularity: number;
  /** Multipliers by retransmission count. */
  backoffTable: readonly number[];
}

/** RFC 6298 with NetBSD's 1 s floor and 64 s ceiling. The default. */
export const RTT_NETBSD: Readonly<RttParams> = Object.freeze({
  rtoInitial: 1000,
  rtoMin: 1000,
  rtoMax: 64000,
  rtoSlop: 0,
  granularity: 1,
  backoffTable: TCP_BACKOFF_NETBSD,
});

/**
 * FreeBSD's defaults (the `freebsd` profile the packetdrill scripts assume):
 * a 30 ms floor plus 200 ms slop, so SYNs go out at 0, +1.0 s, +2.2 s, +4.2 s.
 */
export const RTT_FREEBSD: Readonly<RttParams> = Object.freeze({
  rtoInitial: 1000,
  rtoMin: 30,
  rtoMax: 64000,
  rtoSlop: 200,
  granularity: 1,
  backoffTable: TCP_BACKOFF_FREEBSD,
});

/**
 * `params` completed from RTT_NETBSD: itself when it already is complete
 * (so estimators made from one object share it), else a new frozen object.
 */
export function rttParams(params: Partial<RttParams>): Readonly<RttParams> {
  if (
    params.rtoInitial !== undefined && params.rtoMin !== undefined && params.rtoMax !== undefined &&
    params.rtoSlop !== undefined && params.granularity !== undefined && params.backoffTable !== undefined &&
    params.backoffTable.length > 0
  ) {
    return params as Readonly<RttParams>;
  }
  const p = { ...RTT_NETBSD, ...params };
  if (p.backoffTable.length === 0) p.backoffTable = TCP_BACKOFF_NETBSD;
  return Object.freeze(p);
}

/** RFC 6298 §2 gains: alpha = 1/8, beta = 1/4, K = 4. */
const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

/**
 * SRTT, RTTVAR and the base RTO are fractional: as object fields V8 would
 * box each in a heap number of its own (16 bytes more each, on every
 * connection). They live unboxed in an array of doubles, `v[0..2]`, behind
 * accessors; a subclass (the tcpcb) hands in a longer array and keeps its
 * own such fields after them (RTT_SLOTS).
 */
export const RTT_SLOTS = 3;
/** The places of srtt and rttvar in `v` (for callers that index it directly, as TCP's hot functions do). */
export const SRTT = 0;
export const RTTVAR = 1;
const BASE = 2;
const RTT_INIT: readonly number[] = [0.5, 0.5, 0.5].fill(0);

export class RttEstimator {
  /** srtt, rttvar, base, then the subclass's (see RTT_SLOTS). */
  readonly v: number[];
  /** Smoothed RTT in ms; 0 until the first sample (and after discard()). */
  declare srtt: number;
  /** RTT variation in ms. */
  declare rttvar: number;
  /** The timeout for a first transmission, in whole ms (backoff(0)). */
  rto: number;
  /**
   * The parameters, complete: shared by every estimator made with the same
   * object (a kernel's TCP hands its connections one), not copied into each.
   */
  private readonly p: Readonly<RttParams>;
  /** Samples taken since construction or reset() (BSD t_rttupdated). */
  samples = 0;
  /** Samples refused as nonsense (negative, NaN, infinite). */
  badSamples = 0;

  /*
   * RTO before slop, backoff and rounding: rtoInitial until the first
   * sample, then max(rtoMin, SRTT + max(G, K·RTTVAR)). Kept apart from
   * `rto` because FreeBSD arms the very first timer with exactly
   * rexmit_initial but adds the slop on every backoff.
   */
  private declare base: number;
  /** The next sample initialises SRTT/RTTVAR (RFC 6298 (2.2)) instead of smoothing. */
  private first = true;

  /** `v`: an array of doubles, all 0, at least RTT_SLOTS long (a subclass's own slots follow). */
  constructor(params: Partial<RttParams> = RTT_NETBSD, v: number[] = RTT_INIT.slice()) {
    this.v = v;
    this.p = rttParams(params);
    this.base = this.p.rtoInitial;
    this.rto = this.clampCeil(this.p.rtoInitial);
  }

  get rtoMin(): number {
    return this.p.rtoMin;
  }

  get rtoMax(): number {
    return this.p.rtoMax;
  }

  get rtoInitial(): number {
    return this.p.rtoInitial;
  }

  get rtoSlop(): number {
    return this.p.rtoSlop;
  }

  get granularity(): number {
    return this.p.granularity;
  }

  get backoffTable(): readonly number[] {
    return this.p.backoffTable;
  }

  /** Forget every measurement: back to RFC 6298 (2.1). */
  reset(): void {
    this.srtt = 0;
    this.rttvar = 0;
    this.samples = 0;
    this.first = true;
    this.base = this.rtoInitial;
    this.rto = this.clampCeil(this.rtoInitial);
  }

  /**
   * Take one RTT measurement R (ms). RFC 6298 (2.2) for the first, (2.3)
   * after: RTTVAR is updated with the old SRTT before SRTT moves.
   */
  sample(rttMs: number): void {
    if (!(rttMs >= 0) || rttMs === Infinity) {
      this.badSamples++;
      return;
    }
    // `v` and `p` read directly: TCP takes a sample per ACK, and each accessor is a call until V8 optimises this.
    const v = this.v;
    const p = this.p;
    if (this.first) {
      v[SRTT] = rttMs;
      v[RTTVAR] = rttMs / 2;
      this.first = false;
    } else {
      v[RTTVAR] = (1 - BETA) * v[RTTVAR]! + BETA * Math.abs(v[SRTT]! - rttMs);
      v[SRTT] = (1 - ALPHA) * v[SRTT]! + ALPHA * rttMs;
    }
    this.samples++;
    // RFC 6298 (2.2)/(2.3): RTO = SRTT + max(G, K·RTTVAR); (2.4) the floor.
    const base = Math.max(p.rtoMin, v[SRTT]! + Math.max(p.granularity, K * v[RTTVAR]!));
    v[BASE] = base;
    this.rto = this.clampCeil(base + p.rtoSlop);
  }

  /**
   * The timeout to arm for retransmission number `n` (BSD t_rxtshift; 0 is
   * the first transmission): RFC 6298 (5.5) doubling through the backoff
   * table, then slop, then the [rtoMin, rtoMax] range (RFC 6298 (2.5)).
   */
  backoff(n: number): number {
    if (!(n >= 1)) return this.rto;
    const table = this.backoffTable;
    const i = n < table.length ? Math.floor(n) : table.length - 1;
    return this.clampCeil(this.base * table[i]! + this.rtoSlop);
  }

  /**
   * BSD's answer to a long run of timeouts (tcp_timer_rexmt, after
   * TCP_MAXRXTSHIFT/4 retransmissions): the SRTT is probably stale, so the
   * next sample starts over as a first measurement, while the timeouts
   * already in use stay as they are (SRTT is folded into RTTVAR).
   */
  discard(): void {
    if (this.first) return;
    this.rttvar += this.srtt / K;
    this.srtt = 0;
    this.first = true;
  }

  private clampCeil(ms: number): number {
    const p = this.p;
    const v = Math.ceil(ms);
    if (v > p.rtoMax) return p.rtoMax;
    if (v < p.rtoMin) return Math.ceil(p.rtoMin);
    return v;
  }
}

for (const [i, name] of ['srtt', 'rttvar', 'base'].entries()) {
  const at = i;
  Object.defineProperty(RttEstimator.prototype, name, {
    get(this: { v: number[] }): number {
      return this.v[at]!;
    },
    set(this: { v: number[] }, x: number): void {
      this.v[at] = x;
    },
  });
}
