/*
 * The per-kernel state of the networking components: interfaces, the IPv4
 * routing table, and the dispatch points where protocol families plug into
 * the link layers (NetBSD's netisr and ether_output's per-family resolution).
 * Every kernel has its own NetStack, which is what gives each rump kernel its
 * own interfaces, routes, ARP cache and port space.
 */
import { defineKernelState, type Kernel } from '../kern/kernel.js';
import type { Mbuf } from '../kern/mbuf.js';
import { IfTable, type Ifnet } from './interface.js';
import { RouteTable } from './route.js';
import type { In6AddrInfo, InAddrInfo } from './ioctl.js';
import { NetScratch } from './scratch.js';

/** A protocol's input for one link type (netisr handler): owns `m`. */
export type LinkInput = (ifp: Ifnet, m: Mbuf) => void;

/**
 * Resolve a next hop to a link address for Ethernet output (arpresolve).
 * Returns 0 with the MAC copied into `mac`; EWOULDBLOCK when the packet was
 * queued awaiting resolution (the resolver owns `m`); any other errno when it
 * failed (the resolver freed `m`).
 */
export type LinkResolve = (ifp: Ifnet, m: Mbuf, nexthop: number, mac: Uint8Array) => number;

/** A family's handler for address ioctls (in_control). */
export type FamilyIoctl = (ifp: Ifnet, cmd: string, arg: Record<string, unknown>) => unknown;

export interface NetStats {
  /** Frames too short or malformed for the link layer. */
  ether_badlen: number;
  /** Frames for another host (not promiscuous). */
  ether_notours: number;
  /** Frames of an ethertype nobody handles. */
  ether_noproto: number;
  /** Packets the loopback queue dropped (memory). */
  lo_drops: number;
}

export class NetStack {
  readonly ifs: IfTable;
  /** The IPv4 routing table. */
  readonly rt4 = new RouteTable();
  /** Ethernet input dispatch by ethertype. */
  readonly etherInput = new Map<number, LinkInput>();
  /** Ethernet output resolution by address family (AF_INET → arpresolve). */
  readonly etherResolve = new Map<number, LinkResolve>();
  /** Loopback input by address family. */
  readonly loopInput = new Map<number, LinkInput>();
  /** Address ioctls by command (SIOCAIFADDR → in_control). */
  readonly familyIoctl = new Map<string, FamilyIoctl>();
  /** IPv4 addresses of an interface, for SIOCGIFCONF (set by inet). */
  inetAddrs: (ifp: Ifnet) => InAddrInfo[] = () => [];
  /** IPv6 addresses of an interface, for SIOCGIFCONF (set by inet6). */
  inet6Addrs: (ifp: Ifnet) => In6AddrInfo[] = () => [];
  /** The loopback interface, once net_net attached it. */
  lo0: Ifnet | null = null;
  readonly stats: NetStats = { ether_badlen: 0, ether_notours: 0, ether_noproto: 0, lo_drops: 0 };
  /** kern.somaxconn: the largest listen backlog (a server's default, DEFAULT_SOMAXCONN). */
  somaxconn = DEFAULT_SOMAXCONN;
  /** The packet path's scratch buffers, this kernel's own. */
  readonly scratch = new NetScratch();

  constructor(readonly kernel: Kernel) {
    this.ifs = new IfTable(kernel);
  }
}

/**
 * kern.somaxconn here: as kern.maxfiles, a default that fits a server
 * (NetBSD's SOMAXCONN, sys/socket.h, is 128). A
 * Node server listens with a backlog of 511 and expects to get it (Linux's
 * somaxconn has been 4096 since 5.4); with NetBSD's 128 a burst of a few
 * hundred connects overflows the accept queue and is reset. The sysctl
 * still cuts it, as NetBSD's solisten does.
 */
export const DEFAULT_SOMAXCONN = 4096;

export const NETSTACK = defineKernelState<NetStack>('networking (component net)');

export function netstack(k: Kernel): NetStack {
  return NETSTACK.get(k);
}
