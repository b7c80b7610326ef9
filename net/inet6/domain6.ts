/*
 * The AF_INET6 protocol family (NetBSD netinet6/in6_proto.c: inet6domain
 * and inet6sw[]): which protocol a socket(2) call gets.
 *
 *   net_netinet6 init → kernel.domains[AF_INET6] = Inet6Domain
 *   socket(AF_INET6, SOCK_STREAM, 0 | IPPROTO_TCP) → TCP's user requests of
 *     family AF_INET6 (net/inet/tcp/usrreq.ts, shared with IPv4 as NetBSD
 *     shares tcp_usrreqs)
 *
 *   socket(AF_INET6, SOCK_DGRAM, 0 | IPPROTO_UDP) → UDP's user requests of
 *     family AF_INET6 (net/inet/udp.ts UdpUsrreqs, made by udp6Usrreqs)
 *
 *   socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6) → raw ICMPv6 (raw6.ts, what
 *     rump.ping6 uses; protocol 0 picks it too); any other raw protocol is
 *     EPROTONOSUPPORT
 *
 * Selection follows socreate() as InetDomain does.
 */
import { Errno, EINVAL, EPROTONOSUPPORT, EPROTOTYPE } from '../../kern/errno.js';
import { AF_INET6, O_NONBLOCK, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, type Domain, type KFile } from '../../kern/sys.js';
import { Socket, type Protosw } from '../socket.js';
import { SOCK_CLOEXEC, SOCK_NOSIGPIPE, SOCK_NONBLOCK } from '../inet/domain.js';
import { IPPROTO_TCP } from '../wire/ipv4.js';
import type { Inet6 } from './inet6.js';

const SOCK_FLAGS_MASK = SOCK_CLOEXEC | SOCK_NONBLOCK | SOCK_NOSIGPIPE;

export class Inet6Domain implements Domain {
  readonly family = AF_INET6;
  readonly name = 'inet6';
  /** inet6sw: protocols with a fixed (type, protocol), in the order pffindtype searches. */
  private readonly protosw: Protosw[] = [];

  constructor(readonly inet6: Inet6) {}

  addProtosw(pr: Protosw): void {
    this.protosw.push(pr);
  }

  socreate(type: number, protocol: number): KFile {
    if (!Number.isInteger(type) || !Number.isInteger(protocol)) throw new Errno(EINVAL);
    const sflags = type & SOCK_FLAGS_MASK;
    type &= ~SOCK_FLAGS_MASK;
    if (protocol < 0 || protocol > 255) throw new Errno(EPROTONOSUPPORT);
    let pr: Protosw | null = null;
    for (const p of this.protosw) {
      if (p.type === type && (protocol === 0 || p.protocol === protocol)) {
        pr = p;
        break;
      }
    }
    if (pr === null) {
      if (type === SOCK_STREAM && protocol !== 0 && protocol !== IPPROTO_TCP) throw new Errno(EPROTONOSUPPORT);
      if (type === SOCK_DGRAM || type === SOCK_RAW || type === SOCK_STREAM) throw new Errno(EPROTONOSUPPORT);
      throw new Errno(protocol === 0 && type !== 0 ? EPROTOTYPE : EPROTONOSUPPORT);
    }
    const so = new Socket(this.inet6.kernel, pr);
    pr.attach(so);
    if (sflags & SOCK_NONBLOCK) so.fflags |= O_NONBLOCK;
    return so;
  }
}
