/*
 * The component net_netinet6 (NetBSD librumpnet_netinet6): IPv6, ICMPv6,
 * Neighbor Discovery, and TCP over IPv6 through the AF_INET6 socket family.
 * It needs net_netinet: TCP (and the PCB layer) live there, as in NetBSD,
 * where netinet6 reuses netinet's TCP. A kernel linked without it has no
 * AF_INET6: socket(AF_INET6, ...) fails with EAFNOSUPPORT.
 *
 * init, in order: the Inet6 state in the kernel's INET6 slot; ICMPv6 in
 * protox; the link hooks (ETHERTYPE_IPV6 input, lo0 AF_INET6 input, the
 * Neighbor Discovery resolver for Ethernet output); address ioctls
 * (SIOCAIFADDR_IN6, SIOCDIFADDR_IN6) and the address listing; interface
 * listeners (detach, down); TCP's AF_INET6 PCB table with the In6Ops the
 * PCB layer and TCP call (net/inet never imports net/inet6), TCP in protox
 * and ctlinput; UDP over IPv6 (udp6.ts) likewise; the AF_INET6 domain; sysctls with NetBSD's names; the admin
 * calls (`rt6msg`, `rt6dump`, `ndpdump`) and udp6 PCBs in `pcblist`; lo0 gets ::1/128.
 */
import { rtsockRoute6 } from '../rtsock.js';
import { registerComponent, InitLevel } from '../../kern/component.js';
import type { Kernel } from '../../kern/kernel.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { AF_INET6 } from '../../kern/sys.js';
import type { RouteInfo } from '../ioctl.js';
import { netstack } from '../netstack.js';
import { INET, icmpStatsObject, statsObject } from '../inet/inet.js';
import { InPcbTable, type In6Ops } from '../inet/in_pcb.js';
import { tcpInput6 } from '../inet/tcp/input.js';
import { tcpCtlinput6 } from '../inet/tcp/subr.js';
import { TcpUsrreqs } from '../inet/tcp/usrreq.js';
import { ETHERTYPE_IPV6 } from '../wire/ether.js';
import { IN6ADDR_LOOPBACK, formatIn6Addr } from '../wire/in6addr.js';
import { Errno, EINVAL, ENXIO } from '../../kern/errno.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.js';
import { IPPROTO_ICMPV6 } from '../wire/ipv6.js';
import { Inet6Domain } from './domain6.js';
import { frag6Drain, frag6Sysctls } from './frag6.js';
import { mld6Drain, mld6State } from './mld6.js';
import { icmp6Input } from './icmp6.js';
import { in6AddAddress, in6AddrInfos, in6Control, in6IfDetach } from './in6.js';
import { nd6DadIfDown, nd6DadIfUp } from './nd6_dad.js';
import { in6IfAttach } from './in6_ifattach.js';
import { in6LifetimeEnds } from './in6_lifetime.js';
import { INET6, Inet6 } from './inet6.js';
import { ip6Input } from './ip6_input.js';
import { in6SelectSrc, ip6Output, ip6RouteMtu } from './ip6_output.js';
import { ip6Mtudisc } from './ip6_mtudisc.js';
import { REACHABLE_TIME, RETRANS_TIMER, nd6Announce, nd6Cache, nd6Dump, nd6Msg, nd6Purge, nd6Resolve, type NdpInfo, type NdpMsg } from './nd6.js';
import { nd6PfxFlush, nd6Rtr, nd6RtrAttach, nd6RtrFlush, nd6RtrIfDetach, nd6RtrState, rtsolStart, rtsolStop } from './nd6_rtr.js';
import { Raw6Usrreqs } from './raw6.js';
import { rt6dump, rt6msg, type Rt6Msg } from './route6_ops.js';
import { udp6Usrreqs, udp6Attach, udp6Ctlinput, udp6Input, udp6PcbList } from './udp6.js';

declare module '../../kern/sys.js' {
  interface SysExtensions {
    /** The neighbor cache (rump.ndp -a). */
    ndpdump: () => NdpInfo[];
    /** Changes by hand (rump.ndp -s, -d, -c, -R, -P); the addresses added or removed. */
    ndpmsg: (msg: NdpMsg | { type: 'flushrouters' } | { type: 'flushprefixes' }) => string[];
    /** The default router list, the prefix list, or an interface's ND parameters (rump.ndp -r, -p, -i). */
    ndpinfo: (what: 'routers' | 'prefixes' | 'ifinfo', ifname?: string) => NdpRouterInfo[] | NdpPrefixInfo[] | NdpIfInfo;
    /** The routing socket for IPv6 routes (rump.route -inet6); `get` answers the route, the others nothing. */
    rt6msg: (msg: Rt6Msg) => RouteInfo | undefined;
    /** The IPv6 routing table in netstat -r's order. */
    rt6dump: () => RouteInfo[];
  }
}

/** A default router as `ndp -r` lists it. Expire in seconds from now. */
export interface NdpRouterInfo { addr: string; ifname: string; expire: number }
/** A prefix as `ndp -p` lists it; lifetimes in seconds, -1 infinite. */
export interface NdpPrefixInfo { prefix: string; plen: number; ifname: string; onlink: boolean; vltime: number; pltime: number; expire: number }
/** An interface's Neighbor Discovery parameters, as `ndp -i` prints them. Times in ms. */
export interface NdpIfInfo { linkmtu: number; maxmtu: number; curhlim: number; basereachable: number; retrans: number; acceptRtadv: boolean }

/** protox[IPPROTO_TCP]: TCP's IPv6 input, on the kernel's TCP. */
function tcp6Input(inet6: Inet6, m: Mbuf, off: number): void {
  const tcp = inet6.inet.tcp;
  if (tcp === null) {
    inet6.kernel.mbufs.free(m);
    return;
  }
  tcpInput6(tcp, m, off);
}

/** ctlinput[IPPROTO_TCP]. */
function tcp6Ctlinput(
  inet6: Inet6, errno: number, type: number, code: number, buf: Uint8Array, ip6off: number, uloff: number, end: number, mtu: number,
): void {
  const tcp = inet6.inet.tcp;
  if (tcp !== null) tcpCtlinput6(tcp, errno, type, code, buf, ip6off, uloff, end, mtu);
}

/** The IPv6 layer as the PCB layer and TCP see it. */
function in6Ops(inet6: Inet6): In6Ops {
  return {
    defHlim: () => inet6.defhlim,
    v6only: () => inet6.v6only !== 0,
    isLocal: (addr) => inet6.isLocal(addr, 0),
    selectSrc: (dst, out) => in6SelectSrc(inet6, dst, 0, out),
    routeMtu: (dst) => ip6RouteMtu(inet6, dst, 0),
    pmtuUpdate: (dst, mtu) => ip6Mtudisc(inet6, dst, mtu),
    routeIfp: (dst) => inet6.rt6.lookup(dst, 0)?.ifp ?? null,
    output: (m, src, srcOff, dst, dstOff, nxt, hlim, tclass) => ip6Output(inet6, m, src, srcOff, dst, dstOff, nxt, hlim, tclass),
  };
}

function ndpInfo(inet6: Inet6, what: 'routers' | 'prefixes' | 'ifinfo', ifname?: string): NdpRouterInfo[] | NdpPrefixInfo[] | NdpIfInfo {
  const now = inet6.kernel.uptime();
  const secs = (at: number): number => (at === Infinity ? -1 : Math.max(0, Math.ceil((at - now) / 1000)));
  const st = nd6RtrState(inet6);
  if (what === 'routers') return st.routers.map((r) => ({ addr: formatIn6Addr(r.addr), ifname: r.ifp.name, expire: secs(r.expire) }));
  if (what === 'prefixes') {
    return st.prefixes.map((p) => {
      const ends = p.ia !== null ? in6LifetimeEnds(inet6, p.ia) : null;
      return {
        prefix: formatIn6Addr(p.prefix), plen: p.plen, ifname: p.ifp.name, onlink: p.route !== null,
        vltime: secs(ends?.valid ?? p.onlinkExpire), pltime: ends !== null ? secs(ends.pref) : -1,
        expire: secs(Math.max(p.onlinkExpire, ends?.valid ?? 0)),
      };
    });
  }
  if (what !== 'ifinfo') throw new Errno(EINVAL);
  const ifp = typeof ifname === 'string' ? inet6.ns.ifs.get(ifname) : undefined;
  if (ifp === undefined) throw new Errno(ENXIO);
  return { linkmtu: ifp.mtu, maxmtu: ifp.mtu, curhlim: inet6.defhlim, basereachable: REACHABLE_TIME, retrans: RETRANS_TIMER,
    acceptRtadv: nd6Rtr(inet6).acceptRtadv !== 0 };
}

registerComponent({
  name: 'net_netinet6',
  requires: ['net', 'net_net', 'net_netinet'],
  level: InitLevel.NET,
  init(k: Kernel) {
    const ns = netstack(k);
    const inet = INET.get(k);
    const inet6 = new Inet6(k, ns, inet);
    INET6.set(k, inet6);

    inet6.protox[IPPROTO_ICMPV6] = icmp6Input;
    ns.etherInput.set(ETHERTYPE_IPV6, ip6Input);
    ns.loopInput.set(AF_INET6, ip6Input);
    ns.etherResolve.set(AF_INET6, nd6Resolve);
    ns.familyIoctl.set('SIOCAIFADDR_IN6', (ifp, cmd, arg) => in6Control(inet6, ifp, cmd, arg));
    ns.familyIoctl.set('SIOCDIFADDR_IN6', (ifp, cmd, arg) => in6Control(inet6, ifp, cmd, arg));
    ns.inet6Addrs = (ifp) => in6AddrInfos(inet6, ifp);
    inet6.rt6.notify = (type, rt) => rtsockRoute6(k, type, rt.dst, rt.plen, rt.gateway, rt.flags, rt.ifp, rt.mtu);
    ns.ifs.listeners.push({
      detaching: (ifp) => {
        in6IfDetach(inet6, ifp);
        nd6RtrIfDetach(inet6, ifp);
      },
      changed: (ifp) => {
        if (!ifp.isUp) {
          nd6Purge(inet6, ifp, true);
          rtsolStop(inet6, ifp);
          nd6DadIfDown(inet6, ifp);
        } else {
          nd6DadIfUp(inet6, ifp);
          in6IfAttach(inet6, ifp);
          rtsolStart(inet6, ifp);
        }
      },
      lladdrChanged: (ifp) => nd6Announce(inet6, ifp),
    });

    // TCP over IPv6: its PCB table, sharing ports with IPv4 for dual-stack sockets, the IPv6 layer behind In6Ops.
    const tcp = inet.tcp;
    const domain = new Inet6Domain(inet6);
    const ops = in6Ops(inet6);
    if (tcp !== null) {
      const table = new InPcbTable(inet, AF_INET6, ops);
      // One port space with IPv4 for dual-stack sockets (in_pcb.ts).
      table.peer = inet.tcbtable;
      inet.tcbtable.peer = table;
      tcp.tcbtable6 = table;
      inet6.tcbtable = table;
      inet6.protox[IPPROTO_TCP] = tcp6Input;
      inet6.ctlinput[IPPROTO_TCP] = tcp6Ctlinput;
      domain.addProtosw(new TcpUsrreqs(tcp, AF_INET6));
    }
    // UDP over IPv6: its own PCBs and counters.
    const udp6 = udp6Attach(inet6, new InPcbTable(inet, AF_INET6, ops));
    udp6.table.peer = inet.udbtable;
    inet.udbtable.peer = udp6.table;
    inet6.protox[IPPROTO_UDP] = udp6Input;
    inet6.ctlinput[IPPROTO_UDP] = udp6Ctlinput;
    domain.addProtosw(udp6Usrreqs(udp6));
    // Raw ICMPv6 sockets (rump.ping6).
    domain.addProtosw(new Raw6Usrreqs(inet6, new InPcbTable(inet, AF_INET6, ops)));
    k.domains.set(AF_INET6, domain);

    // netstat -a: net_netinet's pcblist (TCP over both families, UDP) and then the udp6 PCBs.
    const inetPcbList = k.extension('pcblist');
    k.sys.extend('pcblist', () => [...(inetPcbList?.() ?? []), ...udp6PcbList(udp6)]);
    k.sys.extend('ndpdump', () => nd6Dump(inet6));
    k.sys.extend('ndpmsg', (msg) => {
      if (msg?.type === 'flushrouters') nd6RtrFlush(inet6);
      else if (msg?.type === 'flushprefixes') nd6PfxFlush(inet6);
      else return nd6Msg(inet6, msg);
      return [];
    });
    k.sys.extend('ndpinfo', (what, ifname) => ndpInfo(inet6, what, ifname));
    k.sys.extend('rt6msg', (msg: Rt6Msg) => rt6msg(inet6, msg));
    k.sys.extend('rt6dump', () => rt6dump(inet6));

    const sc = k.sysctl;
    sc.int('net.inet6.ip6.forwarding', () => inet6.forwarding, (v) => {
      inet6.forwarding = v;
    }, 0, 1, 'Enable forwarding of INET6 datagrams');
    sc.int('net.inet6.ip6.redirect', () => inet6.sendRedirects, (v) => {
      inet6.sendRedirects = v;
    }, 0, 1, 'Enable sending of ICMPv6 redirect messages');
    sc.int('net.inet6.icmp6.rediraccept', () => inet6.redirAccept, (v) => {
      inet6.redirAccept = v;
    }, 0, 1, 'Accept and process redirect messages');
    sc.int('net.inet6.icmp6.redirtimeout', () => inet6.redirTimeout, (v) => {
      inet6.redirTimeout = v;
    }, 0, 0x7fffffff, 'Redirect generated route lifetime');
    sc.int('net.inet6.ip6.dad_count', () => inet6.dadCount, (v) => {
      inet6.dadCount = v;
    }, 0, 15, 'Number of Duplicate Address Detection probes to send');
    sc.int('net.inet6.ip6.auto_linklocal', () => inet6.autoLinklocal, (v) => {
      inet6.autoLinklocal = v;
    }, 0, 1, 'Default value of per-interface flag for automatically adding an IPv6 link-local address to interfaces when attached');
    sc.int('net.inet6.ip6.hlim', () => inet6.defhlim, (v) => {
      inet6.defhlim = v;
    }, 1, 255, 'Default hop limit of an IPv6 packet');
    sc.int('net.inet6.ip6.v6only', () => inet6.v6only, (v) => {
      inet6.v6only = v;
    }, 0, 1, 'New IPv6 sockets are IPv6 only (IPV6_V6ONLY); 0: they take IPv4 too, as v4-mapped addresses');
    sc.int('net.inet6.icmp6.errppslimit', () => inet6.icmp6ErrPpsLimit, (v) => {
      inet6.icmp6ErrPpsLimit = v;
    }, -1, 0x7fffffff, 'Maximum number of outgoing ICMPv6 error messages per second (-1: no limit)');
    frag6Sysctls(inet6);
    nd6RtrAttach(inet6);
    const nd = nd6Cache(inet6);
    sc.int('net.inet6.icmp6.nd6_maxqueuelen', () => nd.maxhold, (v) => { nd.maxhold = v; }, 1, 0x7fffffff,
      'Packets held per unresolved neighbor');
    sc.int('net.inet6.ip6.neighborgcthresh', () => nd.gcthresh, (v) => { nd.gcthresh = v; }, -1, 0x7fffffff,
      'Maximum number of entries in neighbor cache per interface');
    sc.create('net.inet6.ip6.stats', { type: 'struct', description: 'IPv6 statistics', get: () => statsObject(inet6.ip6stat) });
    sc.create('net.inet6.icmp6.stats', { type: 'struct', description: 'ICMPv6 statistics', get: () => icmpStatsObject(inet6.icmp6stat) });
    sc.create('net.inet6.udp6.stats', { type: 'struct', description: 'UDP over IPv6 statistics', get: () => statsObject(udp6.stat) });
    sc.create('net.inet6.mld6.stats', { type: 'struct', description: 'MLD statistics', get: () => statsObject(mld6State(inet6).stat) });
    sc.create('net.inet6.icmp6.nd6_stats', { type: 'struct', description: 'Neighbor Discovery statistics', get: () => statsObject(inet6.nd6stat) });

    // lo0 is up already (net_net); it gets ::1/128 and fe80::1/64, as NetBSD's in6_ifattach gives it.
    if (ns.lo0) {
      in6AddAddress(inet6, ns.lo0, IN6ADDR_LOOPBACK.slice(), 128);
      in6IfAttach(inet6, ns.lo0);
    }
  },
  fini(k: Kernel) {
    const inet6 = INET6.peek(k);
    if (!inet6) return;
    nd6Purge(inet6, null);
    frag6Drain(inet6);
    mld6Drain(inet6);
  },
});
