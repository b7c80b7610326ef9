/*
 * What the runner knows about each socket of the script (packetdrill's
 * struct socket): its descriptors in the script and in the kernel, its
 * four-tuple on the link, and the two sequence spaces.
 *
 * Sequence numbers: the remote side's are the script's own (the runner
 * plays the remote host and sends exactly what the script writes). The
 * local side's differ by the kernel's ISN: the script calls it
 * `localIsnScript` (the seq of its `> S` or `> S.` line), the kernel chose
 * `localIsnLive`, learnt from the first SYN or SYN-ACK it sent. Inbound
 * acks, SACK blocks and ICMP quotes add the difference; outbound seqs
 * subtract it.
 *
 * Which socket a packet line means: the "socket under test", as in
 * packetdrill: the last socket created or connected; an inbound SYN to a
 * listening socket under test makes a new child connection (with a fresh
 * remote port) the socket under test.
 */
import type { TcpPacket } from './ast.js';
import { encodeTcpOptions, hexOf } from './codec.js';
import { ScriptFailure } from './failure.js';
import { TsMap } from './matcher.js';
import { TH_ACK } from '../net/wire/tcp.js';

export type SocketState =
  /** Created, maybe bound. */
  | 'new'
  | 'listening'
  /** connect() called; the first outbound SYN (or UDP datagram) is still to be seen. */
  | 'connecting'
  /** The script's `> S` was matched. */
  | 'syn_sent'
  /** A child: the script injected the SYN. */
  | 'passive_syn_received'
  /** A child whose SYN-ACK was seen. */
  | 'passive_synack_sent';

export class ScriptSocket {
  scriptFd: number | null = null;
  liveFd: number | null = null;
  state: SocketState = 'new';
  /** The kernel-side port, once bound, learnt or implied (bind port for children). */
  localPort: number | null = null;
  /** Script ISN (seq of the script's SYN / SYN-ACK line) and the kernel's. */
  localIsnScript = 0;
  localIsnLive: number | null = null;
  readonly ts = new TsMap();
  closed = false;
  /** For a child: the listener, and whether accept() has handed it out. */
  listener: ScriptSocket | null = null;
  accepted = false;

  constructor(
    readonly proto: 'tcp' | 'udp',
    /** The runner-side port. */
    public remotePort: number,
  ) {}

  /** Kernel ISN minus script ISN: added to script acks, subtracted from live seqs (mod 2^32). */
  get seqOffset(): number {
    return ((this.localIsnLive ?? 0) - this.localIsnScript) >>> 0;
  }

  /**
   * An inbound TCP line's numbers in the kernel's space (packetdrill's
   * map_inbound_packet): seq as written; with ACK set, the ack and SACK
   * edges shifted by the ISN difference and a TS ecr replaced by the live
   * TS val the script's value stood for.
   */
  inboundTcp(t: TcpPacket, foCookies: ReadonlyMap<string, Uint8Array> = new Map()): { seq: number; ack: number; options: Uint8Array } {
    if (t.options === 'any') throw new ScriptFailure('<...> means "options not checked", which only an outbound packet can say');
    const off = this.seqOffset;
    const hasAck = (t.flags & TH_ACK) !== 0;
    const options = encodeTcpOptions(t.options ?? [], {
      sack: (n) => (n + off) >>> 0,
      // A Fast Open cookie the kernel gave under that name in a SYN-ACK (the matcher's mapping), else as written.
      fo: (c) => foCookies.get(hexOf(c)) ?? c,
      ecr: (n, absolute) => {
        if (!hasAck || absolute) return n;
        const live = this.ts.scriptToLive.get(n);
        if (live === undefined) {
          throw new ScriptFailure(`no mapping for TS ecr ${n}: no outbound packet with TS val ${n} was matched on this connection`);
        }
        return live;
      },
    });
    const ack = t.ack ?? 0;
    // `a:b(n)!`: the line's numbers are the wire's; the ack is sent as written.
    return { seq: t.seq.start, ack: hasAck && !t.seq.absolute ? (ack + off) >>> 0 : ack, options };
  }

  describe(): string {
    const fd = this.scriptFd !== null ? `fd ${this.scriptFd}` : this.listener ? 'a connection not yet accepted' : 'no fd';
    return `${this.proto} socket (${fd}, local port ${this.localPort ?? '?'}, remote port ${this.remotePort})`;
  }
}

export class SocketTable {
  readonly all: ScriptSocket[] = [];
  /**
   * Fast Open cookies: the cookie a `>` line wrote (hex) → the one the
   * kernel really sent there. Its key is random per kernel, so a script
   * names a cookie and later `<` lines send what that name stood for, as
   * TS ecr values are mapped to the TS vals they echo.
   */
  readonly foCookies = new Map<string, Uint8Array>();
  underTest: ScriptSocket | null = null;
  /** Script descriptor → socket (open descriptors only). */
  private readonly byScriptFd = new Map<number, ScriptSocket>();
  private nextPort: number;

  constructor(firstRemotePort: number) {
    this.nextPort = firstRemotePort;
  }

  /** A fresh remote port for a new socket or child connection. */
  ephemeral(): number {
    const p = this.nextPort;
    this.nextPort = p >= 65535 ? 49152 : p + 1;
    return p;
  }

  create(proto: 'tcp' | 'udp'): ScriptSocket {
    const s = new ScriptSocket(proto, this.ephemeral());
    this.all.push(s);
    this.underTest = s;
    return s;
  }

  /** An inbound SYN on a listener: the child connection it starts becomes the socket under test. */
  child(listener: ScriptSocket, bindPort: number): ScriptSocket {
    const c = new ScriptSocket(listener.proto, this.ephemeral());
    c.state = 'passive_syn_received';
    c.localPort = listener.localPort ?? bindPort;
    c.listener = listener;
    this.all.push(c);
    this.underTest = c;
    return c;
  }

  attachFd(s: ScriptSocket, scriptFd: number, liveFd: number): void {
    s.scriptFd = scriptFd;
    s.liveFd = liveFd;
    this.byScriptFd.set(scriptFd, s);
  }

  byFd(scriptFd: number): ScriptSocket | undefined {
    return this.byScriptFd.get(scriptFd);
  }

  /** The kernel's descriptor for a script descriptor (unknown ones pass through, so EBADF tests work). */
  liveFd(scriptFd: number): number {
    return this.byScriptFd.get(scriptFd)?.liveFd ?? scriptFd;
  }

  closeFd(scriptFd: number): void {
    const s = this.byScriptFd.get(scriptFd);
    if (!s) return;
    s.closed = true;
    this.byScriptFd.delete(scriptFd);
  }

  /** The oldest child of `listener` that accept() has not handed out. */
  nextToAccept(listener: ScriptSocket): ScriptSocket | undefined {
    return this.all.find((s) => s.listener === listener && !s.accepted);
  }
}
