/*
 * The component net_netinet (NetBSD librumpnet_netinet): IPv4, ARP, ICMP and
 * (through D2's inetDomainAttach) the sockets of AF_INET.
 *
 * init, in order: the Inet state in the kernel's INET slot; ARP cache;
 * ICMP and IGMP in protox; input handlers (ETHERTYPE_IP, ETHERTYPE_ARP, lo0 AF_INET);
 * the ARP resolver for Ethernet output; address ioctls and the address
 * listing; interface listeners (detach, down); the admin calls (`rtmsg`,
 * `rtdump`, `arpdump`, `arpmsg`); sysctls with NetBSD's names; lo0 gets
 * 127.0.0.1/8; then the socket layer of the family.
 */
import { registerComponent, InitLevel } from '../../kern/component.js';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET } from '../../kern/sys.js';
import { netstack } from '../netstack.js';
import type { ArpInfo, ArpMsg, DhcpLeaseInfo, DhcpMsg, RouteInfo, RtMsg } from '../ioctl.js';
import { ETHERTYPE_ARP, ETHERTYPE_IP } from '../wire/ether.js';
import { INADDR_LOOPBACK } from '../wire/inaddr.js';
import { IPPROTO_ICMP, IPPROTO_IGMP } from '../wire/ipv4.js';
import { ARP, ArpTable, arpAnnounce, arpDrain, arpDump, arpIfDown, arpInput, arpMsg, arpResolve, arpSysctls } from './arp.js';
import { inetDomainAttach } from './domain.js';
import { DhcpStat, DhcpState, dhcpStatsObject } from './dhcp.js';
import { icmpInput } from './icmp.js';
import { igmpDrain, igmpInput, igmpState } from './igmp.js';
import { arpDadIfDown, arpDadIfUp } from './arp_dad.js';
import { inAddAddress, inAddrInfos, inControl, inIfDetach } from './in.js';
import { INET, Inet, icmpStatsObject, statsObject } from './inet.js';
import { ipInput } from './ip_input.js';
import { ipMtudiscSysctls } from './ip_mtudisc.js';
import { ipReassDrain, ipReassSysctls } from './ip_reass.js';
import { rtdump, rtmsg } from './route_ops.js';
import { carpCloner } from './ip_carp.js';

declare module '../../kern/sys.js' {
  interface SysExtensions {
    /** The routing socket: add, delete, change or get an IPv4 route (rump.route). */
    rtmsg: (msg: RtMsg) => RouteInfo;
    /** The IPv4 routing table in netstat -r's order. */
    rtdump: () => RouteInfo[];
    /** The ARP cache (rump.arp -a). */
    arpdump: () => ArpInfo[];
    /** Add or delete an ARP entry (rump.arp -s / -d). */
    arpmsg: (msg: ArpMsg) => void;
    /** The DHCP client (dhcp.ts): start, release or show an interface's lease; null: no lease. */
    dhcp: (msg: DhcpMsg) => DhcpLeaseInfo | null | Promise<DhcpLeaseInfo | null>;
  }
}

registerComponent({
  name: 'net_netinet',
  requires: ['net', 'net_net'],
  level: InitLevel.NET,
  init(k: Kernel) {
    const ns = netstack(k);
    const inet = new Inet(k, ns);
    INET.set(k, inet);
    inet.ipId = k.host.random32() & 0xffff;
    ARP.set(k, new ArpTable(inet));

    inet.protox[IPPROTO_ICMP] = icmpInput;
    inet.protox[IPPROTO_IGMP] = igmpInput;
    ns.etherInput.set(ETHERTYPE_IP, ipInput);
    ns.etherInput.set(ETHERTYPE_ARP, arpInput);
    ns.loopInput.set(AF_INET, ipInput);
    ns.etherResolve.set(AF_INET, arpResolve);
    ns.familyIoctl.set('SIOCAIFADDR', (ifp, cmd, arg) => inControl(inet, ifp, cmd, arg));
    ns.familyIoctl.set('SIOCDIFADDR', (ifp, cmd, arg) => inControl(inet, ifp, cmd, arg));
    ns.inetAddrs = (ifp) => inAddrInfos(inet, ifp);
    ns.ifs.addCloner(carpCloner);
    ns.ifs.listeners.push({
      detaching: (ifp) => inIfDetach(inet, ifp),
      changed: (ifp) => {
        if (!ifp.isUp) {
          arpIfDown(inet, ifp);
          arpDadIfDown(inet, ifp);
        } else arpDadIfUp(inet, ifp);
      },
      // A new MAC is announced for each usable address, as NetBSD's arp_ifinit does.
      lladdrChanged: (ifp) => {
        for (const ia of inet.addrs) if (ia.ifp === ifp && ia.flags === 0) arpAnnounce(inet, ifp, ia.addr);
      },
    });

    k.sys.extend('rtmsg', (msg: RtMsg) => rtmsg(inet, msg));
    k.sys.extend('rtdump', () => rtdump(inet));
    k.sys.extend('arpdump', () => arpDump(inet));
    k.sys.extend('arpmsg', (msg: ArpMsg) => arpMsg(inet, msg));
    // Made at the first DHCP call: most kernels (a lab's routers and hosts
    // with static addresses) never run a client.
    let dhcp: DhcpState | null = null;
    k.sys.extend('dhcp', (msg: DhcpMsg) => (dhcp ??= new DhcpState(inet)).call(msg));
    ns.ifs.listeners.push({ destroying: (ifp) => dhcp?.destroying(ifp) });
    k.sysctl.struct('net.inet.dhcp.stats', () => dhcpStatsObject(dhcp?.stat ?? new DhcpStat()), 'DHCP client statistics');

    const sc = k.sysctl;
    sc.int('net.inet.ip.forwarding', () => inet.forwarding, (v) => {
      inet.forwarding = v;
    }, 0, 1, 'Enable IP forwarding');
    sc.int('net.inet.ip.redirect', () => inet.sendRedirects, (v) => {
      inet.sendRedirects = v;
    }, 0, 1, 'Enable sending of ICMP redirect messages');
    sc.int('net.inet.icmp.rediraccept', () => inet.redirAccept, (v) => {
      inet.redirAccept = v;
    }, 0, 1, 'Accept ICMP_REDIRECT messages');
    sc.int('net.inet.icmp.redirtimeout', () => inet.redirTimeout, (v) => {
      inet.redirTimeout = v;
    }, 0, 0x7fffffff, 'Lifetime of ICMP_REDIRECT generated routes (seconds)');
    sc.int('net.inet.ip.dad_count', () => inet.dadCount, (v) => {
      inet.dadCount = v;
    }, 0, 10, 'Number of Duplicate Address Detection probes to send');
    sc.int('net.inet.ip.ttl', () => inet.defttl, (v) => {
      inet.defttl = v;
    }, 1, 255, 'Default TTL for an INET datagram');
    sc.int('net.inet.arp.keep', () => inet.arpKeep, (v) => {
      inet.arpKeep = v;
    }, 1, 0x7fffffff, 'Valid ARP entry lifetime in seconds');
    sc.int('net.inet.icmp.errppslimit', () => inet.icmpErrPpsLimit, (v) => {
      inet.icmpErrPpsLimit = v;
    }, -1, 0x7fffffff, 'Maximum number of outgoing ICMP error messages per second (-1: no limit)');
    sc.int('net.inet.icmp.bmcastecho', () => inet.bmcastecho, (v) => {
      inet.bmcastecho = v;
    }, 0, 1, 'Respond to ICMP_ECHO or ICMP_TIMESTAMP requests to the broadcast address');
    sc.int('net.inet.ip.directed-broadcast', () => inet.directedBroadcast, (v) => {
      inet.directedBroadcast = v;
    }, 0, 1, 'Enable forwarding of broadcast datagrams');
    sc.int('net.inet.ip.allowsrcrt', () => inet.allowSrcrt, (v) => {
      inet.allowSrcrt = v;
    }, 0, 1, 'Accept source-routed IP packets');
    sc.int('net.inet.ip.forwsrcrt', () => inet.forwSrcrt, (v) => {
      inet.forwSrcrt = v;
    }, 0, 1, 'Forward source-routed IP packets');
    ipReassSysctls(inet);
    ipMtudiscSysctls(inet);
    arpSysctls(inet);
    sc.struct('net.inet.ip.stats', () => statsObject(inet.ipstat), 'IP statistics');
    sc.struct('net.inet.icmp.stats', () => icmpStatsObject(inet.icmpstat), 'ICMP statistics');
    sc.struct('net.inet.igmp.stats', () => statsObject(igmpState(inet).stat), 'IGMP statistics');
    sc.struct('net.inet.arp.stats', () => statsObject(inet.arpstat), 'ARP statistics');

    // lo0 is up already (net_net); it gets 127.0.0.1/8 and its host route.
    if (ns.lo0) inAddAddress(inet, ns.lo0, INADDR_LOOPBACK, 8, null, false);

    inetDomainAttach(inet);
  },
  fini(k: Kernel) {
    const inet = INET.peek(k);
    if (!inet) return;
    ipReassDrain(inet);
    igmpDrain(inet);
    arpDrain(inet);
  },
});
