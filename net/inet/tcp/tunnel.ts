/*
 * TCP over UDP as FreeBSD does it (net.inet.tcp.udp_tunneling_port,
 * TCP_REMOTE_UDP_ENCAPS_PORT; RFC 8229's idea without its framing): the
 * TCP segment, header and data as ever, is the payload of a UDP datagram,
 * so it passes middleboxes that only let UDP through.
 *
 *   in   a UDP datagram to the tunneling port → tcpInputUdp: the UDP header
 *        skipped, TCP input as usual with the datagram's source port in
 *        tcp.seg.udpPort; a connection only takes segments that came the
 *        way it talks (its t_port), a listener remembers the port of a SYN
 *   out  tcpIpOutput(…, udpPort): the TCP checksum as for plain TCP, then a
 *        UDP header from the tunneling port to the peer's (checksum 0 over
 *        IPv4, RFC 768; computed over IPv6, RFC 8200 §8.1)
 *
 * The MSS both ways is udp_tunneling_overhead (8) smaller, for the UDP header.
 */
import type { Mbuf } from '../../../kern/mbuf.js';
import { ip6Cksum } from '../../wire/ipv6.js';
import { IPPROTO_UDP } from '../../wire/ipv4.js';
import { UDP_HDR_LEN, udpWriteHeader } from '../../wire/udp.js';
import { tcpInput, tcpInput6 } from './input.js';
import type { Tcp } from './var.js';

/** FreeBSD's TCP_REMOTE_UDP_ENCAPS_PORT. */
export const TCP_REMOTE_UDP_ENCAPS_PORT = 71;

/** A UDP datagram to net.inet.tcp.udp_tunneling_port (IPv4): `m` at the IP header, `hlen` bytes of it. Owns `m`. */
export function tcpInputUdp(tcp: Tcp, m: Mbuf, hlen: number, sport: number): void {
  tcp.stat.udp_tunnel_rcv++;
  tcp.seg.udpPort = sport;
  try {
    tcpInput(tcp.inet, m, hlen + UDP_HDR_LEN);
  } finally {
    tcp.seg.udpPort = 0;
  }
}

/** The same over IPv6: `m` at the IPv6 header, the UDP header `off` bytes in. Owns `m`. */
export function tcpInputUdp6(tcp: Tcp, m: Mbuf, off: number, sport: number): void {
  tcp.stat.udp_tunnel_rcv++;
  tcp.seg.udpPort = sport;
  try {
    tcpInput6(tcp, m, off + UDP_HDR_LEN);
  } finally {
    tcp.seg.udpPort = 0;
  }
}

/**
 * Put the UDP header of the tunnel in front of the TCP segment in `m` (its
 * checksum already done). `src6`/`dst6` set: IPv6, whose UDP checksum is
 * mandatory. Returns the mbuf to send (perhaps another), or null (no memory).
 */
export function tcpUdpEncapsulate(tcp: Tcp, m: Mbuf, dport: number, src6: Uint8Array | null, dst6: Uint8Array | null): Mbuf | null {
  const u = tcp.kernel.mbufs.prepend(m, UDP_HDR_LEN);
  if (u === null) return null;
  udpWriteHeader(u.buf, u.off, tcp.cfg.udpTunnelingPort, dport, u.len);
  if (src6 !== null && dst6 !== null) {
    const c = ip6Cksum(u.buf, u.off, u.len, IPPROTO_UDP, src6, 0, dst6, 0) || 0xffff;
    u.buf[u.off + 6] = c >>> 8;
    u.buf[u.off + 7] = c & 0xff;
  }
  tcp.stat.udp_tunnel_snd++;
  return u;
}
