/*
 * The parsed form of a packetdrill script: options, then events, each with
 * a time and one action (a packet to inject or expect, a system call, a
 * shell command or a code snippet).
 *
 *   lexer.ts (text → tokens, comments, #ifdef, --define) → parser.ts (tokens → Script) → runner.ts
 *
 * Times are integers in microseconds, as packetdrill keeps them, so that
 * "0.10" and "+0.1" compare exactly. Sequence numbers are u32 as written in
 * the script (script space); the runner maps them to the kernel's.
 */

/** Where something was written, for messages (1-based). */
export interface SourcePos {
  line: number;
  col: number;
}

/** A `--name=value` line at the top of the script (value null for a bare `--name`). */
export interface ScriptOption {
  name: string;
  value: string | null;
  line: number;
}

/**
 * The time column.
 *
 * - `absolute` `0.1`: 0.1 s after the script started.
 * - `relative` `+0.1`: 0.1 s after the previous event completed.
 * - `any` `*`: whenever it happens (outbound packets only make sense here).
 *
 * `end` is the second number of a range (`0.1~0.2`, `+0.1~+0.2`) or of a
 * blocking system call (`+0...0.1`), in the same base as the start: both are
 * shifted together when the start is relative. `blocking` tells the two apart.
 */
export interface EventTime {
  kind: 'absolute' | 'relative' | 'any';
  us: number;
  end: number | null;
  blocking: boolean;
}

/* ------------------------------------------------------------------------ */
/* Packets */

/** The IP part a script may give in `(…)` or `[…]` before the flags. */
export interface IpInfo {
  /** ECN codepoint (`noecn` 0, `ect1` 1, `ect0` 2, `ce` 3); `ect01` accepts 1 or 2 on outbound packets. */
  ecn: 'noecn' | 'ect0' | 'ect1' | 'ect01' | 'ce' | null;
  /** The whole TOS byte (`tos 0x…`). */
  tos: number | null;
  ttl: number | null;
  flowlabel: number | null;
}

export type TcpOption =
  | { kind: 'nop' }
  | { kind: 'eol' }
  | { kind: 'mss'; value: number }
  | { kind: 'wscale'; value: number }
  | { kind: 'sackOK' }
  | { kind: 'sack'; blocks: Array<[number, number]> }
  /** `TS val ... ecr N!`: valIgnored, the value is never compared; ecrAbsolute, the echo is sent as written (not mapped). */
  | { kind: 'TS'; val: number; ecr: number; valIgnored?: boolean; ecrAbsolute?: boolean }
  /** TCP Fast Open (RFC 7413): `FO` (a cookie request) or `FO 0011…` (a cookie, hex). */
  | { kind: 'FO'; cookie: Uint8Array }
  | { kind: 'unsupported'; name: string };

/** `start:end(len)`. */
export interface SeqRange {
  start: number;
  end: number;
  len: number;
  /** `start:end(len)!`: the numbers of this line are the wire's, not relative to an ISN (outbound seq, inbound ack). */
  absolute?: boolean;
  /** `...(len)`: any sequence number (outbound only; start and end are 0). */
  ignored?: boolean;
}

/** `/udp(sport > dport)` after a TCP line: the segment travels inside a UDP datagram with these ports (RFC 8229-like, FreeBSD's TCP over UDP). */
export interface UdpEncaps {
  src: number;
  dst: number;
}

export interface TcpPacket {
  proto: 'tcp';
  /** Flag bits as on the wire (FIN 0x01 … CWR 0x80, AE 0x100), from letters `FSRP.UEWA`. */
  flags: number;
  /** The flags as written (`S.`), for messages. */
  flagText: string;
  seq: SeqRange;
  /** `ack N`, or null (the field must then be 0 on outbound packets). */
  ack: number | null;
  /** `win N`; null: outbound windows are not checked (an error inbound). */
  win: number | null;
  urg: number | null;
  /** null: no `<…>` (outbound: must have no options); 'any': `<...>` (not checked). */
  options: TcpOption[] | 'any' | null;
  /** `/udp(sport > dport)`: inside UDP; null: plain TCP (unless --udp_encapsulation). */
  udp: UdpEncaps | null;
}

export interface UdpPacket {
  proto: 'udp';
  /** Payload bytes. */
  len: number;
}

/** What an ICMP error quotes: `[seq:end(len)]` (TCP) or `[udp (len)]`. */
export type IcmpQuote = { proto: 'tcp'; seq: SeqRange } | { proto: 'udp'; len: number };

export interface IcmpPacket {
  proto: 'icmp';
  typeName: string;
  codeName: string | null;
  /** ICMP's type and code for the names; -1 when the name is ICMPv6's only (an IPv6 run maps the names again). */
  type: number;
  code: number;
  /** `mtu N` (fragmentation needed). */
  mtu: number | null;
  quote: IcmpQuote | null;
}

export interface PacketSpec {
  direction: 'inbound' | 'outbound';
  ip: IpInfo;
  /** `sport>dport` written before the flags (rare); null: the socket's ports. */
  ports: { src: number; dst: number } | null;
  body: TcpPacket | UdpPacket | IcmpPacket;
}

/* ------------------------------------------------------------------------ */
/* System calls */

export type Expr =
  | { kind: 'ellipsis' }
  | { kind: 'int'; value: number; text: string }
  | { kind: 'word'; name: string }
  | { kind: 'string'; value: string; ellipsis: boolean }
  | { kind: 'array'; items: Expr[] }
  /** `{a=1, b=2}` or `{1, 2}`: fields without a name have name null. */
  | { kind: 'struct'; fields: Array<{ name: string | null; value: Expr }> }
  | { kind: 'or'; items: Expr[] }
  | { kind: 'call'; name: string; args: Expr[] };

export interface SyscallSpec {
  name: string;
  args: Expr[];
  /** What `=` says it returns. */
  result: Expr;
  /** `EINPROGRESS` after the result, or null. */
  errno: string | null;
  /** The parenthesised text after it, e.g. `Operation now in progress` (not checked). */
  note: string | null;
}

/* ------------------------------------------------------------------------ */

export type Action =
  | { type: 'packet'; packet: PacketSpec }
  | { type: 'syscall'; call: SyscallSpec }
  | { type: 'command'; command: string }
  | { type: 'code'; code: string };

export interface ScriptEvent {
  line: number;
  /** The event as written (time column included), for messages. */
  text: string;
  time: EventTime;
  action: Action;
}

export interface Script {
  /** Where it came from, for messages. */
  path: string;
  options: ScriptOption[];
  /** A backquoted command before the first event (packetdrill's init command), or null. */
  initCommand: { command: string; line: number } | null;
  events: ScriptEvent[];
  /** A backquoted command after the last event (cleanup command), or null. */
  cleanupCommand: { command: string; line: number } | null;
}

/** A script that cannot be read: where and why. */
export class ScriptSyntaxError extends Error {
  constructor(
    readonly path: string,
    readonly line: number,
    readonly col: number,
    readonly reason: string,
  ) {
    super(`${path}:${line}:${col}: ${reason}`);
    this.name = 'ScriptSyntaxError';
  }
}
