/*
 * DHCP messages (RFC 2131 §2, the BOOTP layout of RFC 951) and the options
 * of RFC 2132 a client needs. Addresses are host-order numbers as
 * everywhere on the packet path.
 *
 *   op htype hlen hops | xid | secs flags | ciaddr | yiaddr | siaddr | giaddr
 *   chaddr (16) | sname (64) | file (128) | magic cookie 99.130.83.99 | options
 *
 * Parsing never throws: a message that is short, not a reply, without the
 * cookie, or whose options run past their field is null (the caller counts
 * it). Option overload (option 52) is honoured: the file and sname fields
 * then hold options too, read after the options field (RFC 2131 §4.1).
 */

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
/** op..file: the fixed BOOTP part. */
export const DHCP_FIXED_LEN = 236;
/** The fixed part and the magic cookie: where options start. */
export const DHCP_OPTIONS_OFF = 240;
/** BOOTP's minimum message (RFC 951: the vend field is 64 bytes): some relays and servers drop shorter. */
export const DHCP_MIN_LEN = 300;
/** The flags field's broadcast bit (RFC 2131 §2, figure 2). */
export const DHCP_FLAG_BROADCAST = 0x8000;
const MAGIC = 0x63825363;
const SNAME_OFF = 44;
const FILE_OFF = 108;

/** Option 53, DHCP message type (RFC 2132 §9.6). */
export const DHCPDISCOVER = 1;
export const DHCPOFFER = 2;
export const DHCPREQUEST = 3;
export const DHCPDECLINE = 4;
export const DHCPACK = 5;
export const DHCPNAK = 6;
export const DHCPRELEASE = 7;
export const DHCPINFORM = 8;

/** RFC 2132 option codes. */
export const OPT_PAD = 0;
export const OPT_SUBNET_MASK = 1;
export const OPT_ROUTER = 3;
export const OPT_DNS = 6;
export const OPT_HOSTNAME = 12;
export const OPT_DOMAIN = 15;
export const OPT_REQUESTED_IP = 50;
export const OPT_LEASE_TIME = 51;
export const OPT_OVERLOAD = 52;
export const OPT_MSG_TYPE = 53;
export const OPT_SERVER_ID = 54;
export const OPT_PARAM_REQ = 55;
export const OPT_MAX_MSG_SIZE = 57;
export const OPT_T1 = 58;
export const OPT_T2 = 59;
export const OPT_CLIENT_ID = 61;
export const OPT_END = 255;

/** What a client reads from a server's reply. Absent options are null / empty. */
export interface DhcpReply {
  xid: number;
  flags: number;
  yiaddr: number;
  siaddr: number;
  chaddr: Uint8Array;
  type: number;
  serverId: number | null;
  mask: number | null;
  routers: number[];
  dns: number[];
  domain: string | null;
  /** Seconds; 0xffffffff is infinite (RFC 2132 §9.2). */
  lease: number | null;
  t1: number | null;
  t2: number | null;
}

/** What a client sends. */
export interface DhcpRequest {
  type: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  chaddr: Uint8Array;
  requestedIp?: number;
  serverId?: number;
  hostname?: string;
}

const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** The parameters a client asks for (option 55). */
const PARAMS = [OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_DOMAIN, OPT_LEASE_TIME, OPT_T1, OPT_T2] as const;

/**
 * A client message (RFC 2131 table 5): the client identifier is the
 * hardware type and address (RFC 2132 §9.14), the maximum size is what an
 * Ethernet carries, padded to BOOTP's 300 bytes.
 */
export function dhcpBuildRequest(r: DhcpRequest): Uint8Array {
  const b = new Uint8Array(576);
  b[0] = BOOTREQUEST;
  b[1] = 1; // Ethernet
  b[2] = 6;
  put32(b, 4, r.xid);
  b[8] = (r.secs >>> 8) & 0xff;
  b[9] = r.secs & 0xff;
  b[10] = r.flags >>> 8;
  b[11] = r.flags & 0xff;
  put32(b, 12, r.ciaddr);
  b.set(r.chaddr.subarray(0, 6), 28);
  put32(b, DHCP_FIXED_LEN, MAGIC);
  let o = DHCP_OPTIONS_OFF;
  b[o++] = OPT_MSG_TYPE;
  b[o++] = 1;
  b[o++] = r.type;
  b[o++] = OPT_CLIENT_ID;
  b[o++] = 7;
  b[o++] = 1;
  b.set(r.chaddr.subarray(0, 6), o);
  o += 6;
  if (r.requestedIp !== undefined) {
    b[o++] = OPT_REQUESTED_IP;
    b[o++] = 4;
    put32(b, o, r.requestedIp);
    o += 4;
  }
  if (r.serverId !== undefined) {
    b[o++] = OPT_SERVER_ID;
    b[o++] = 4;
    put32(b, o, r.serverId);
    o += 4;
  }
  if (r.type !== DHCPRELEASE && r.type !== DHCPDECLINE) {
    b[o++] = OPT_MAX_MSG_SIZE;
    b[o++] = 2;
    b[o++] = 1500 >>> 8;
    b[o++] = 1500 & 0xff;
    b[o++] = OPT_PARAM_REQ;
    b[o++] = PARAMS.length;
    for (const p of PARAMS) b[o++] = p;
    if (r.hostname !== undefined && r.hostname.length > 0) {
      const name = new TextEncoder().encode(r.hostname.slice(0, 63));
      b[o++] = OPT_HOSTNAME;
      b[o++] = name.length;
      b.set(name, o);
      o += name.length;
    }
  }
  b[o++] = OPT_END;
  return b.subarray(0, Math.max(o, DHCP_MIN_LEN));
}

function addrList(b: Uint8Array, o: number, len: number): number[] | null {
  if (len === 0 || len % 4 !== 0) return null;
  const out: number[] = [];
  for (let i = 0; i < len; i += 4) out.push(u32(b, o + i));
  return out;
}

/**
 * Walk the options in b[off, end): call `fn(code, off, len)` for each.
 * False when one runs past `end` (an option overflowing its field) or has a
 * bad length for its code; an End option stops the walk.
 */
function walkOptions(b: Uint8Array, off: number, end: number, fn: (code: number, o: number, len: number) => boolean): boolean {
  let o = off;
  while (o < end) {
    const code = b[o]!;
    if (code === OPT_END) return true;
    if (code === OPT_PAD) {
      o++;
      continue;
    }
    if (o + 2 > end) return false;
    const len = b[o + 1]!;
    if (o + 2 + len > end) return false;
    if (!fn(code, o + 2, len)) return false;
    o += 2 + len;
  }
  // RFC 2131 §4.1 wants an End option; servers that stop at the packet's end are read anyway.
  return true;
}

/** A server's reply, or null when it is not one a client can read. */
export function dhcpParseReply(b: Uint8Array): DhcpReply | null {
  if (b.length < DHCP_OPTIONS_OFF || b[0] !== BOOTREPLY || b[1] !== 1 || b[2] !== 6 || u32(b, DHCP_FIXED_LEN) !== MAGIC) return null;
  const r: DhcpReply = {
    xid: u32(b, 4), flags: (b[10]! << 8) | b[11]!, yiaddr: u32(b, 16), siaddr: u32(b, 20), chaddr: b.slice(28, 34),
    type: 0, serverId: null, mask: null, routers: [], dns: [], domain: null, lease: null, t1: null, t2: null,
  };
  let overload = 0;
  const take = (code: number, o: number, len: number): boolean => {
    switch (code) {
      case OPT_MSG_TYPE:
        if (len !== 1) return false;
        r.type = b[o]!;
        return true;
      case OPT_OVERLOAD:
        if (len !== 1 || b[o]! < 1 || b[o]! > 3) return false;
        overload = b[o]!;
        return true;
      case OPT_SERVER_ID:
      case OPT_SUBNET_MASK:
      case OPT_LEASE_TIME:
      case OPT_T1:
      case OPT_T2: {
        if (len !== 4) return false;
        const v = u32(b, o);
        if (code === OPT_SERVER_ID) r.serverId = v;
        else if (code === OPT_SUBNET_MASK) r.mask = v;
        else if (code === OPT_LEASE_TIME) r.lease = v;
        else if (code === OPT_T1) r.t1 = v;
        else r.t2 = v;
        return true;
      }
      case OPT_ROUTER:
      case OPT_DNS: {
        const l = addrList(b, o, len);
        if (l === null) return false;
        if (code === OPT_ROUTER) r.routers = l;
        else r.dns = l;
        return true;
      }
      case OPT_DOMAIN: {
        // RFC 2132 §3.17: NUL termination is not expected, but some servers send it.
        let n = len;
        while (n > 0 && b[o + n - 1] === 0) n--;
        r.domain = n > 0 ? new TextDecoder().decode(b.subarray(o, o + n)) : null;
        return true;
      }
      default:
        return true;
    }
  };
  if (!walkOptions(b, DHCP_OPTIONS_OFF, b.length, take)) return null;
  if (overload & 1 && !walkOptions(b, FILE_OFF, FILE_OFF + 128, take)) return null;
  if (overload & 2 && !walkOptions(b, SNAME_OFF, SNAME_OFF + 64, take)) return null;
  return r;
}
