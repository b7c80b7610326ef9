/*
 * The portable configuration calls of buildrump's libnetconfig
 * (rump_pub_netconfig_*), over any `sys`: an in-process kernel's or a
 * remote one through rump_server. Each call opens a socket for its ioctls,
 * as ifconfig does, and closes it again.
 */
import { AF_INET, SOCK_DGRAM, type Sys } from '../kern/sys.js';
import { IFF_UP } from './interface.js';
import type { DhcpLeaseInfo, RtMsg } from './ioctl.js';

/** The calls of `Sys` that netconfig needs (a RemoteSys fits too). */
export type NetconfigSys = Pick<Sys, 'socket' | 'ioctl' | 'close' | 'ext'>;

export class NetConfig {
  constructor(private readonly sys: NetconfigSys) {}

  private async withSocket<T>(fn: (fd: number) => Promise<T>): Promise<T> {
    const fd = await this.sys.socket(AF_INET, SOCK_DGRAM, 0);
    try {
      return await fn(fd);
    } finally {
      await this.sys.close(fd);
    }
  }

  /** Create an interface: `shmif0` exactly, or `shmif` for the lowest free unit. Returns its name. */
  ifcreate(ifname: string): Promise<string> {
    return this.withSocket(async (fd) => {
      const r = /[0-9]$/.test(ifname)
        ? await this.sys.ioctl(fd, 'SIOCIFCREATE', { name: ifname })
        : await this.sys.ioctl(fd, 'SIOCIFCREATENEXT', { base: ifname });
      return (r as { name: string }).name;
    });
  }

  ifdestroy(ifname: string): Promise<void> {
    return this.withSocket(async (fd) => {
      await this.sys.ioctl(fd, 'SIOCIFDESTROY', { name: ifname });
    });
  }

  /** Attach the interface to its medium (a shmif bus path); null detaches. */
  ifsetlinkstr(ifname: string, linkstr: string | null): Promise<void> {
    return this.withSocket(async (fd) => {
      await this.sys.ioctl(fd, 'SIOCSLINKSTR', { name: ifname, linkstr });
    });
  }

  private setUp(ifname: string, up: boolean): Promise<void> {
    return this.withSocket(async (fd) => {
      const { flags } = (await this.sys.ioctl(fd, 'SIOCGIFFLAGS', { name: ifname })) as { flags: number };
      await this.sys.ioctl(fd, 'SIOCSIFFLAGS', { name: ifname, flags: up ? flags | IFF_UP : flags & ~IFF_UP });
    });
  }

  ifup(ifname: string): Promise<void> {
    return this.setUp(ifname, true);
  }

  ifdown(ifname: string): Promise<void> {
    return this.setUp(ifname, false);
  }

  ifmtu(ifname: string, mtu: number): Promise<void> {
    return this.withSocket(async (fd) => {
      await this.sys.ioctl(fd, 'SIOCSIFMTU', { name: ifname, mtu });
    });
  }

  /** Assign an IPv4 address with a dotted netmask (brings the interface up). */
  ipv4Ifaddr(ifname: string, addr: string, mask: string): Promise<void> {
    return this.withSocket(async (fd) => {
      await this.sys.ioctl(fd, 'SIOCAIFADDR', { name: ifname, addr, mask });
    });
  }

  /** Assign an IPv4 address with a prefix length. */
  ipv4IfaddrCidr(ifname: string, addr: string, prefixLen: number): Promise<void> {
    if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 32) {
      return Promise.reject(new RangeError(`prefix length ${prefixLen} is not 0..32`));
    }
    const m = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
    const mask = [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join('.');
    return this.ipv4Ifaddr(ifname, addr, mask);
  }

  /**
   * rump_pub_netconfig_dhcp_ipv4_oneshot: bring the interface up, get a
   * lease (DISCOVER, OFFER, REQUEST, ACK; RFC 2131) and configure the
   * address, mask, default route and DNS servers and domain (net.resolv).
   * The kernel keeps the lease (renews at T1, rebinds at T2, drops it at
   * expiry) and releases it when the interface is destroyed or the kernel
   * halts; `renew: false` configures once and keeps nothing running.
   * Rejects with ETIMEDOUT when no server answers within `timeoutMs` (30 s).
   */
  async dhcpIpv4Oneshot(ifname: string, opts: { renew?: boolean; timeoutMs?: number } = {}): Promise<DhcpLeaseInfo> {
    const lease = await this.sys.ext('dhcp', { op: 'start', ifname, ...opts });
    if (lease === null) throw new Error(`dhcp: ${ifname}: no lease`); // start resolves with the lease or rejects
    return lease;
  }

  /** Release the interface's DHCP lease (DHCPRELEASE) and remove its address, as `dhcpcd -k`. */
  async dhcpRelease(ifname: string): Promise<void> {
    await this.sys.ext('dhcp', { op: 'release', ifname });
  }

  /** The interface's DHCP lease, or null when it has none. */
  async dhcpStatus(ifname: string): Promise<DhcpLeaseInfo | null> {
    return this.sys.ext('dhcp', { op: 'status', ifname });
  }

  /** Set the default route. */
  async ipv4Gw(gateway: string): Promise<void> {
    const msg: RtMsg = { type: 'add', dst: 'default', gateway };
    await this.sys.ext('rtmsg', msg);
  }
}
