/*
 * The AF_INET protocol family (NetBSD netinet/in_proto.c: inetdomain and
 * inetsw[]): which protocol a socket(2) call gets, the UDP input and error
 * entries in the IP protocol switch, and the transport sysctls.
 *
 *   net_netinet init → inetDomainAttach(inet) → kernel.domains[AF_INET]
 *   socket(AF_INET, type, proto) → InetDomain.socreate → Protosw.attach
 *
 * Protocol selection follows NetBSD's socreate(): with a protocol number,
 * pffindproto (type and protocol must both match; SOCK_RAW takes any
 * protocol); without one, pffindtype (the type's default protocol). No
 * match: EPROTOTYPE for an unknown type asked without a protocol, else
 * EPROTONOSUPPORT.
 */
import { formatInAddr } from '../wire/inaddr.js';
import { Errno, EINVAL, EPROTONOSUPPORT, EPROTOTYPE } from '../../kern/errno.js';
import { AF_INET, AF_INET6, O_NONBLOCK, SOCK_RAW, type Domain, type KFile } from '../../kern/sys.js';
import { Socket, type Protosw } from '../socket.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.js';
import { IPPORT_RESERVED } from './in_pcb.js';
import type { Inet } from './inet.js';
import { RawUsrreqs } from './raw_ip.js';
import { UdpUsrreqs, udpCtlinput, udpInput } from './udp.js';
import { tcpInput } from './tcp/input.js';
import { tcpCtlinput, tcpPcbList } from './tcp/subr.js';
import { TcpUsrreqs, tcpAttach, tcpDropCommand, type TcpDropArg } from './tcp/usrreq.js';

declare module '../../kern/sys.js' {
  interface SysExtensions {
    /** tcpdrop(8): drop connections by four-tuple or by state name; how many went. */
    tcpdrop: (arg: TcpDropArg) => number;
    /** netstat -a's PCBs: TCP over both families, then UDP (net_netinet6 adds udp6). */
    pcblist: () => PcbListEntry[];
  }
}

/* Flags NetBSD lets socket(2) or into the type (sys/socket.h). */
export const SOCK_CLOEXEC = 0x10000000;
export const SOCK_NONBLOCK = 0x20000000;
export const SOCK_NOSIGPIPE = 0x40000000;
const SOCK_FLAGS_MASK = SOCK_CLOEXEC | SOCK_NONBLOCK | SOCK_NOSIGPIPE;

/** The largest socket buffer a sysctl default may ask for (what SO_SNDBUF accepts). */
const SB_MAX = 64 * 1024 * 1024;

export class InetDomain implements Domain {
  readonly family = AF_INET;
  readonly name = 'inet';
  readonly udp: UdpUsrreqs;
  /** inetsw: protocols with a fixed (type, protocol), in the order pffindtype searches. */
  private readonly protosw: Protosw[] = [];
  /** Raw sockets' user requests by protocol (created on first use). */
  private readonly raw = new Map<number, RawUsrreqs>();

  constructor(readonly inet: Inet) {
    this.udp = new UdpUsrreqs(inet);
    this.protosw.push(this.udp);
  }

  /**
   * Add a protocol to the switch (TCP registers its SOCK_STREAM entry here
   * when it lands). Until then SOCK_STREAM fails with EPROTONOSUPPORT.
   */
  addProtosw(pr: Protosw): void {
    this.protosw.push(pr);
  }

  private rawProto(protocol: number): RawUsrreqs {
    let pr = this.raw.get(protocol);
    if (pr === undefined) {
      pr = new RawUsrreqs(this.inet, protocol);
      this.raw.set(protocol, pr);
    }
    return pr;
  }

  /** pffindproto: both must match; any protocol makes a raw socket. */
  private findProto(type: number, protocol: number): Protosw | null {
    for (const pr of this.protosw) if (pr.type === type && pr.protocol === protocol) return pr;
    if (type === SOCK_RAW) return this.rawProto(protocol);
    return null;
  }

  /** pffindtype: the type's default protocol. */
  private findType(type: number): Protosw | null {
    for (const pr of this.protosw) if (pr.type === type) return pr;
    if (type === SOCK_RAW) return this.rawProto(0);
    return null;
  }

  socreate(type: number, protocol: number): KFile {
    if (!Number.isInteger(type) || !Number.isInteger(protocol)) throw new Errno(EINVAL);
    const sflags = type & SOCK_FLAGS_MASK;
    type &= ~SOCK_FLAGS_MASK;
    if (protocol < 0 || protocol > 255) throw new Errno(EPROTONOSUPPORT);
    const pr = protocol !== 0 ? this.findProto(type, protocol) : this.findType(type);
    if (pr === null) {
      throw new Errno(protocol === 0 && type !== 0 ? EPROTOTYPE : EPROTONOSUPPORT);
    }
    const so = new Socket(this.inet.kernel, pr);
    pr.attach(so);
    if (sflags & SOCK_NONBLOCK) so.fflags |= O_NONBLOCK;
    return so;
  }
}

/**
 * One PCB as `sys.ext('pcblist')` returns it (bin/rump.netstat.ts PcbInfo):
 * `proto` is tcp/udp, or tcp6/udp6 for AF_INET6 PCBs; `state` for TCP only.
 */
export interface PcbListEntry {
  proto: string;
  laddr: string;
  lport: number;
  faddr: string;
  fport: number;
  recvQ: number;
  sendQ: number;
  state?: string;
  family: number;
}

/**
 * Register AF_INET: the domain, UDP and TCP in the IP protocol switch, and
 * the sysctls of the transport side (net.inet.udp.*, net.inet.tcp.*, and
 * the ephemeral port range net.inet.ip.anonportmin/anonportmax unless the
 * IP side made them).
 */
export function inetDomainAttach(inet: Inet): void {
  const k = inet.kernel;
  inet.protox[IPPROTO_UDP] = udpInput;
  inet.ctlinput[IPPROTO_UDP] = udpCtlinput;
  const domain = new InetDomain(inet);
  k.domains.set(AF_INET, domain);
  // TCP (net/inet/tcp/): its state, sysctls, and its place in both switches.
  const tcp = tcpAttach(inet);
  domain.addProtosw(new TcpUsrreqs(tcp));
  inet.protox[IPPROTO_TCP] = tcpInput;
  inet.ctlinput[IPPROTO_TCP] = tcpCtlinput;
  k.sys.extend('tcpdrop', (arg: unknown) => tcpDropCommand(tcp, arg));
  // netstat -a reads the PCBs (NetBSD: sysctl net.inet.{tcp,udp}.pcblist),
  // TCP first as NetBSD lists them, with each connection's state. Each entry
  // says its family (AF_INET, or AF_INET6 for TCP's tcp6 PCBs); IPv6
  // addresses are RFC 5952 text. net_netinet6 appends its udp6 PCBs.
  k.sys.extend('pcblist', () => {
    const out: PcbListEntry[] = [];
    for (const p of tcpPcbList(tcp)) out.push({ ...p, family: p.proto === 'tcp6' ? AF_INET6 : AF_INET });
    for (const inp of inet.udbtable.all) {
      const so = inp.so;
      out.push({
        proto: 'udp', laddr: formatInAddr(inp.laddr), lport: inp.lport, faddr: formatInAddr(inp.faddr),
        fport: inp.fport, recvQ: so ? so.rcv.cc : 0, sendQ: so ? so.snd.cc : 0, family: AF_INET,
      });
    }
    return out;
  });

  const sc = k.sysctl;
  sc.int('net.inet.udp.checksum', () => inet.udpChecksum, (v) => {
    inet.udpChecksum = v;
  }, 0, 1, 'compute UDP checksums on output');
  sc.int('net.inet.udp.sendspace', () => inet.udpSendspace, (v) => {
    inet.udpSendspace = v;
  }, 1, SB_MAX, 'default UDP send buffer size');
  sc.int('net.inet.udp.recvspace', () => inet.udpRecvspace, (v) => {
    inet.udpRecvspace = v;
  }, 1, SB_MAX, 'default UDP receive buffer size');
  sc.struct('net.inet.udp.stats', () => ({ ...inet.udpstat }), 'UDP statistics');

  // NetBSD's sysctl_net_inet_ip_ports: each end within [IPPORT_RESERVED,
  // 65535] and the range not empty.
  if (!sc.has('net.inet.ip.anonportmin')) {
    sc.int('net.inet.ip.anonportmin', () => inet.anonPortMin, (v) => {
      if (v >= inet.anonPortMax) throw new Errno(EINVAL, 'sysctl', 'net.inet.ip.anonportmin');
      inet.anonPortMin = v;
    }, IPPORT_RESERVED, 65535, 'lowest ephemeral port number');
  }
  if (!sc.has('net.inet.ip.anonportmax')) {
    sc.int('net.inet.ip.anonportmax', () => inet.anonPortMax, (v) => {
      if (v <= inet.anonPortMin) throw new Errno(EINVAL, 'sysctl', 'net.inet.ip.anonportmax');
      inet.anonPortMax = v;
    }, IPPORT_RESERVED, 65535, 'highest ephemeral port number');
  }
}
