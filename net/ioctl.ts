/*
 * The administrative interface of the networking components: interface
 * ioctls (NetBSD's SIOC* on any socket, handled by ifioctl/in_control), the
 * routing-socket messages (RTM_* written to a PF_ROUTE socket), and the dumps
 * that netstat/arp/route read (NetBSD reads them with sysctl NET_RT_DUMP and
 * NET_RT_FLAGS). They travel as structured values instead of C structs so the
 * same calls work in-process and through rump_server.
 *
 *   await sys.ioctl(fd, 'SIOCIFCREATE', { name: 'shmif0' })
 *   await sys.ext('rtmsg', { type: 'add', dst: 'default', gateway: '192.0.2.254' })
 *   await sys.ext('rtdump')        // RouteInfo[]
 *   await sys.ext('arpdump')       // ArpInfo[]
 *   await sys.sysctl('net.inet.ip.stats')   // { total: .., badsum: .., ... }
 */

/** ioctl commands and their argument and result shapes. */
export interface IoctlMap {
  /** Create an interface with exactly this name: EINVAL unknown cloner, EEXIST exists. */
  SIOCIFCREATE: [{ name: string }, { name: string }];
  /** Create with the lowest free unit of a cloner (`shmif` → `shmif0`). */
  SIOCIFCREATENEXT: [{ base: string }, { name: string }];
  SIOCIFDESTROY: [{ name: string }, void];
  /** The cloner names (ifconfig -C). */
  SIOCIFGCLONERS: [void, string[]];
  /** Every interface, or one (`name`), with its addresses and counters. */
  SIOCGIFCONF: [{ name?: string } | void, IfInfo[]];
  SIOCGIFFLAGS: [{ name: string }, { flags: number }];
  /** Set the changeable flags; bringing up a shmif without a bus is ENXIO. */
  SIOCSIFFLAGS: [{ name: string; flags: number }, void];
  SIOCGIFMTU: [{ name: string }, { mtu: number }];
  /** The interface's counters, then zeroed (ifconfig -z). */
  SIOCZIFDATA: [{ name: string }, { stats: IfInfo['stats'] }];
  SIOCSIFMTU: [{ name: string; mtu: number }, void];
  /** The interface's routing metric (ifconfig metric n), for routing daemons; shown when not 0. */
  SIOCSIFMETRIC: [{ name: string; metric: number }, void];
  /** Attach the medium (bus path, TAP name); null detaches (-linkstr). EBUSY when up or attached. */
  SIOCSLINKSTR: [{ name: string; linkstr: string | null }, void];
  SIOCGLINKSTR: [{ name: string }, { linkstr: string | null }];
  /**
   * `ifconfig IF link MAC [active]` (NetBSD's SIOCALIFADDR for AF_LINK): a
   * link-layer address for the interface; `active` makes it the one the
   * interface sends from and answers to, announced with a gratuitous ARP
   * for each IPv4 address. EINVAL for a multicast or wrong-length address.
   */
  SIOCALIFADDR: [{ name: string; lladdr: string; active?: boolean }, void];
  /**
   * `ifconfig IF link MAC delete` (SIOCDLIFADDR for AF_LINK): drop a spare
   * link-layer address. EBUSY for the active or the factory address,
   * EADDRNOTAVAIL for one the interface does not have.
   */
  SIOCDLIFADDR: [{ name: string; lladdr: string }, void];
  /**
   * Switch offloads on and off (IFCAP_* bits, `ifconfig virt0 -tso4`): EINVAL
   * for a bit the interface does not have.
   */
  SIOCSIFCAP: [{ name: string; capenable: number }, void];
  /**
   * Add an IPv4 address (SIOCAIFADDR). Without `alias`, replaces the
   * interface's first address, as `ifconfig shmif0 inet A/N` does. Brings the
   * interface up, adds the connected and local routes, announces with a
   * gratuitous ARP.
   */
  SIOCAIFADDR: [{ name: string; addr: string; mask: string; broadaddr?: string; alias?: boolean }, void];
  /** Remove an IPv4 address (SIOCDIFADDR); EADDRNOTAVAIL if it is not there. */
  SIOCDIFADDR: [{ name: string; addr: string }, void];
  /**
   * Add an IPv6 address (SIOCAIFADDR_IN6, with net_netinet6), beside the
   * interface's others; prefixlen defaults to 64. Brings the interface up
   * and adds the connected and local routes.
   */
  SIOCAIFADDR_IN6: [{ name: string; addr: string; prefixlen?: number; flags?: number; pltime?: number; vltime?: number }, void];
  /** Remove an IPv6 address (SIOCDIFADDR_IN6); EADDRNOTAVAIL if it is not there. */
  SIOCDIFADDR_IN6: [{ name: string; addr: string }, void];
}

export interface InAddrInfo {
  addr: string;
  mask: string;
  prefixLen: number;
  broadaddr: string | null;
  /** IN_IFF_* (TENTATIVE 1, DUPLICATED 2, DETACHED 4); absent means none. */
  flags?: number;
}

/** An interface's IPv6 address (SIOCGIFCONF with net_netinet6). */
export interface In6AddrInfo {
  /** RFC 5952 text, without a zone. */
  addr: string;
  prefixLen: number;
  /** IN6_IFF_* flags (ifconfig's "flags 0x0"). */
  flags: number;
  /** The interface index for a link-local address (ifconfig's "scopeid 0x2"), else 0. */
  scopeId: number;
  /** Seconds left of the preferred and valid lifetimes (ifconfig -L); null or absent: infinite. */
  pltime?: number | null;
  vltime?: number | null;
}

export interface IfInfo {
  name: string;
  index: number;
  flags: number;
  mtu: number;
  /** Colon-separated MAC, or null. */
  lladdr: string | null;
  /** The inactive link-layer addresses (ifconfig's `link` lines); present only when there are some. */
  links?: string[];
  linkstr: string | null;
  /** IFCAP_* the interface can do, and those enabled; present only when it has some. */
  capabilities?: number;
  capenable?: number;
  /** if_metric; present only when not 0. */
  metric?: number;
  inet: InAddrInfo[];
  /** IPv6 addresses; present only when the interface has some. */
  inet6?: In6AddrInfo[];
  stats: {
    ipackets: number; ierrors: number; opackets: number; oerrors: number; collisions: number;
    ibytes: number; obytes: number; iqdrops: number; imcasts: number; omcasts: number; noproto: number;
  };
}

/** A routing message (struct rt_msghdr plus its sockaddrs). */
export interface RtMsg {
  type: 'add' | 'delete' | 'change' | 'get';
  /** Destination address, or 'default'. */
  dst: string;
  /** Prefix length; absent: 32 for hosts (or with `host`), the classful length is not guessed. */
  prefixLen?: number;
  /** Next hop address (RTF_GATEWAY), or absent for an interface route. */
  gateway?: string;
  /** Interface for an interface route (`-interface`, `-ifp`). */
  ifname?: string;
  /** The route's local address (`-ifa`), one of ours. */
  ifa?: string;
  /** RTF_* flags to set (RTF_REJECT, RTF_BLACKHOLE, RTF_HOST, RTF_STATIC). */
  flags?: number;
  mtu?: number;
}

/** A route as dumped (netstat -rn) or answered to RTM_GET (route get). */
export interface RouteInfo {
  dst: string;
  prefixLen: number;
  /** Next hop address, `link#N` for a connected route, or the interface name for lo0 routes. */
  gateway: string;
  flags: number;
  refs: number;
  use: number;
  /** 0 when the route uses the interface's MTU. */
  mtu: number;
  ifname: string;
  /** Local address used on this route (route get's "local addr"). */
  ifaddr: string | null;
}

/** An ARP cache entry (arp -an). */
export interface ArpInfo {
  addr: string;
  /** null while incomplete. */
  lladdr: string | null;
  ifname: string;
  permanent: boolean;
  /** Seconds until expiry, or -1 for permanent. */
  expire: number;
  published: boolean;
}

/** An ARP change (arp -s / arp -d), as NetBSD's arp does through the routing socket. */
export interface ArpMsg {
  type: 'add' | 'delete';
  addr: string;
  lladdr?: string;
  temp?: boolean;
  pub?: boolean;
}

/** What `dhcpIpv4Oneshot` resolves with. Times are seconds. */
export interface DhcpLeaseInfo {
  ifname: string;
  address: string;
  mask: string;
  prefixLen: number;
  server: string;
  routers: string[];
  dns: string[];
  domain: string | null;
  lease: number;
  t1: number;
  t2: number;
  state: string;
}

/** The `dhcp` call (sys.ext) arguments. */
export interface DhcpMsg {
  op: 'start' | 'release' | 'status';
  ifname: string;
  /** Keep the lease (renew at T1, rebind at T2); false: configure once, as dhcpcd -1 without the daemon. Default true. */
  renew?: boolean;
  /** Give up acquiring after this many ms (ETIMEDOUT). Default 30 s, dhcpcd's. */
  timeoutMs?: number;
}
