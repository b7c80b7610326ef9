/*
 * TCP sequence numbers (RFC 9293 §3.4; BSD netinet/tcp_seq.h).
 *
 * A sequence number is a u32 carried as a JS number in [0, 2^32). Two of
 * them are compared modulo 2^32: a is "less than" b when b - a, taken as a
 * signed 32-bit value, is positive. Never compare them with `<`.
 *
 * The functions every segment runs (tcpHeaderPrediction, tcpOutputOne,
 * tcpSendSegment, tcpAckNew...) write these out, `((a - b) | 0) > 0` for
 * seqGt(a, b): until V8 optimises a caller, each use of a helper is a call,
 * and a short run is over before it has.
 */

/** A sequence number: a u32 compared modulo 2^32 with the functions below. */
type Seq = number;

/** SEQ_LT: a < b modulo 2^32. */
export function seqLt(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) < 0;
}

/** SEQ_LEQ: a <= b modulo 2^32. */
export function seqLeq(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) <= 0;
}

/** SEQ_GT: a > b modulo 2^32. */
export function seqGt(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) > 0;
}

/** SEQ_GEQ: a >= b modulo 2^32. */
export function seqGeq(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) >= 0;
}

/** a - b as a signed distance (the number of octets from b to a). */
export function seqDiff(a: Seq, b: Seq): number {
  return (a - b) | 0;
}
