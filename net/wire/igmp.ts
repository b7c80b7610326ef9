/*
 * IGMP message view (RFC 2236 §2; RFC 1112 Appendix I for version 1;
 * RFC 3376 §4.1 for the longer version 3 query a v2 host still answers).
 *
 *   0               1               2                               4
 *   +---------------+---------------+-------------------------------+
 *   | type          | max resp time | checksum                      |
 *   +---------------+---------------+-------------------------------+
 *   | group address                                                 |
 *   +---------------------------------------------------------------+
 *
 * Call order on input: igmpInput → igmpCheck() over the IP payload (count
 * and drop unless Ok) → the accessors below, which never throw after it.
 * On output: igmpWrite() into place (it sets the checksum).
 */
import { inCksum } from './cksum.js';

export const IGMP_MINLEN = 8;

/** Membership query (v1, v2 and v3 share the type; RFC 2236 §2.1). */
export const IGMP_HOST_MEMBERSHIP_QUERY = 0x11;
/** Version 1 membership report (RFC 1112). */
export const IGMP_v1_HOST_MEMBERSHIP_REPORT = 0x12;
/** Version 2 membership report. */
export const IGMP_v2_HOST_MEMBERSHIP_REPORT = 0x16;
/** Version 2 leave group. */
export const IGMP_HOST_LEAVE_MESSAGE = 0x17;
/** Version 3 membership report (RFC 3376 §4.2); a v2 host neither sends nor acts on it. */
export const IGMP_v3_HOST_MEMBERSHIP_REPORT = 0x22;

/** Max Resp Time is in tenths of a second; a v1 query carries 0 and means 10 s (RFC 2236 §4). */
export const IGMP_TIMER_SCALE_MS = 100;
export const IGMP_V1_MAX_RESP_MS = 10_000;

const OFF_TYPE = 0;
const OFF_CODE = 1;
const OFF_SUM = 2;
const OFF_GROUP = 4;

/** Outcome of igmpCheck(), one per NetBSD igmpstat counter. */
export const IgmpCheck = {
  Ok: 0,
  /** Fewer than 8 bytes: igps_rcv_tooshort. */
  TooShort: 1,
  /** Checksum over the whole message wrong: igps_rcv_badsum. */
  BadSum: 2,
} as const;
export type IgmpCheck = (typeof IgmpCheck)[keyof typeof IgmpCheck];

/** The one check: `len` bytes at `off` (the IP payload) hold a message with a good checksum. */
export function igmpCheck(buf: Uint8Array, off: number, len: number): IgmpCheck {
  if (off < 0 || len < IGMP_MINLEN || len > buf.length - off) return IgmpCheck.TooShort;
  if (inCksum(buf, off, len) !== 0) return IgmpCheck.BadSum;
  return IgmpCheck.Ok;
}

export function igmpType(buf: Uint8Array, off: number): number {
  return buf[off + OFF_TYPE]!;
}

/** Max Resp Time (v2: tenths of a second; v1: 0). */
export function igmpCode(buf: Uint8Array, off: number): number {
  return buf[off + OFF_CODE]!;
}

export function igmpGroup(buf: Uint8Array, off: number): number {
  return ((buf[off + OFF_GROUP]! << 24) | (buf[off + OFF_GROUP + 1]! << 16) | (buf[off + OFF_GROUP + 2]! << 8) | buf[off + OFF_GROUP + 3]!) >>> 0;
}

/** Write an 8-byte message at `off`, checksum included. */
export function igmpWrite(buf: Uint8Array, off: number, type: number, code: number, group: number): void {
  buf[off + OFF_TYPE] = type;
  buf[off + OFF_CODE] = code;
  buf[off + OFF_SUM] = 0;
  buf[off + OFF_SUM + 1] = 0;
  buf[off + OFF_GROUP] = group >>> 24;
  buf[off + OFF_GROUP + 1] = (group >>> 16) & 0xff;
  buf[off + OFF_GROUP + 2] = (group >>> 8) & 0xff;
  buf[off + OFF_GROUP + 3] = group & 0xff;
  const sum = inCksum(buf, off, IGMP_MINLEN);
  buf[off + OFF_SUM] = sum >>> 8;
  buf[off + OFF_SUM + 1] = sum & 0xff;
}
