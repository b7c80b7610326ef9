/*
 * A DHCP client in the kernel (RFC 2131), as buildrump's
 * rump_pub_netconfig_dhcp_ipv4_oneshot and NetBSD's dhcpcd give one:
 *
 *   INIT → DISCOVER (broadcast from 0.0.0.0:68 to 255.255.255.255:67)
 *        → OFFER → REQUEST (broadcast, with the server's identifier) → ACK
 *   BOUND: address and mask (option 1), default route (option 3), DNS
 *          servers (6) and domain (15) into net.resolv
 *   T1 → RENEWING: REQUEST unicast to the server; T2 → REBINDING: broadcast;
 *   expiry → the address, route and servers go (INIT again)
 *   release (interface destroyed, kernel halted, `-k`): DHCPRELEASE, address gone
 *
 * It speaks over an ordinary UDP socket of the kernel: IP_MULTICAST_IF by
 * interface index sends the limited broadcast out of the interface before
 * it has an address (NetBSD's ip_output does the same), and the broadcast
 * flag asks the server to broadcast its replies, which a host without an
 * address can take (RFC 2131 §4.1). The socket is the kernel's own, in no
 * process's descriptor table, so halt closes it only after the release.
 *
 * Timers run on the kernel's callouts; retransmission follows RFC 2131
 * §4.1 (4 s doubling to 64 s, ±1 s at random) while acquiring, and §4.4.5
 * (half the time left to T2 or to expiry, at least 60 s) while renewing.
 * Replies with another xid or hardware address, malformed ones, and ACKs
 * without a usable lease (lease 0, no server identifier, no address) are
 * dropped and counted in net.inet.dhcp.stats.
 */
import { Errno, EINVAL, ENXIO, ETIMEDOUT, EBUSY } from '../../kern/errno.js';
import { POLLIN } from '../../kern/select.js';
import type { Callout } from '../../kern/callout.js';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, SOCK_DGRAM, O_NONBLOCK, MSG_DONTWAIT, type KFile } from '../../kern/sys.js';
import { IFF_UP, type Ifnet } from '../interface.js';
import { MAXNS, MAXDNSRCH, kernelResolv } from '../resolv.js';
import { SO_BROADCAST, SO_REUSEADDR, SO_REUSEPORT, SOL_SOCKET } from '../socket.js';
import {
  DHCPACK, DHCPDISCOVER, DHCPNAK, DHCPOFFER, DHCPRELEASE, DHCPREQUEST, DHCP_CLIENT_PORT, DHCP_FLAG_BROADCAST,
  DHCP_SERVER_PORT, dhcpBuildRequest, dhcpParseReply, type DhcpReply,
} from '../wire/dhcp.js';
import { INADDR_ANY, INADDR_BROADCAST, formatInAddr, maskToPrefix, classfulPrefixLen } from '../wire/inaddr.js';
import { IPPROTO_IP } from '../wire/ipv4.js';
import { arpRequest } from './arp.js';
import { inAddAddress, inPurgeAddr } from './in.js';
import type { Inet } from './inet.js';
import { IP_MULTICAST_IF } from './ip_mopts.js';
import { rtmsg } from './route_ops.js';
import type { DhcpLeaseInfo, DhcpMsg } from '../ioctl.js';

export class DhcpStat {
  discovers = 0; requests = 0; releases = 0; retransmits = 0;
  offers = 0; acks = 0; naks = 0;
  badxid = 0; badpacket = 0; badlease = 0; unexpected = 0;
  bound = 0; renewed = 0; expired = 0; timeouts = 0;
}

const enum State { INIT, SELECTING, REQUESTING, BOUND, RENEWING, REBINDING, STOPPED }
const STATE_NAMES = ['init', 'selecting', 'requesting', 'bound', 'renewing', 'rebinding', 'stopped'] as const;

const INFINITE = 0xffffffff;
const RX_BUF = 1500;

class DhcpClient {
  state = State.INIT;
  private readonly so: KFile;
  private readonly timer: Callout<DhcpClient>;
  private readonly giveUp: Callout<DhcpClient>;
  private xid = 0;
  private startedAt = 0;
  private rto = 0;
  private nakDelay = 1000;
  private offer: DhcpReply | null = null;
  lease: DhcpReply | null = null;
  private boundAt = 0;
  /** What we added, so only that is taken away again. */
  private ourRoute: number | null = null;
  private ourDns: string[] = [];
  private ourDomain: string | null = null;
  private waiter: { resolve: (l: DhcpLeaseInfo) => void; reject: (e: Error) => void; release: () => void } | null = null;
  private readonly onReadable = (): void => this.readable();

  constructor(
    readonly d: DhcpState,
    readonly ifp: Ifnet,
    readonly renew: boolean,
  ) {
    const k = d.inet.kernel;
    const dom = k.domains.get(AF_INET)!;
    this.so = dom.socreate(SOCK_DGRAM, 0);
    this.so.fflags = O_NONBLOCK;
    this.so.setsockopt(SOL_SOCKET, SO_BROADCAST, 1);
    // One client per interface, all on port 68.
    this.so.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    this.so.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    this.so.setsockopt(IPPROTO_IP, IP_MULTICAST_IF, { addr: formatInAddr(ifp.index) });
    try {
      // UDP binds at once; a port 68 held by a socket without SO_REUSEPORT is EADDRINUSE to the caller.
      const r = this.so.bind({ family: AF_INET, addr: '0.0.0.0', port: DHCP_CLIENT_PORT });
      if (r instanceof Promise) r.catch(() => {});
    } catch (e) {
      void Promise.resolve(this.so.close()).catch(() => {});
      throw e;
    }
    this.so.sel.add(this.onReadable);
    this.timer = k.callouts.create((c) => c.timeout(), this as DhcpClient);
    this.giveUp = k.callouts.create((c) => c.acquireTimedOut(), this as DhcpClient);
  }

  private get k(): Kernel {
    return this.d.inet.kernel;
  }

  private now(): number {
    return this.k.host.now();
  }

  /** Begin acquiring; resolves when bound. */
  acquire(timeoutMs: number): Promise<DhcpLeaseInfo> {
    return new Promise((resolve, reject) => {
      // Keep the host process alive while a caller waits for the lease.
      this.waiter = { resolve, reject, release: this.k.host.hold() };
      this.giveUp.reset(timeoutMs);
      this.init();
    });
  }

  private settle(e: Error | null): void {
    const w = this.waiter;
    if (w === null) return;
    this.waiter = null;
    this.giveUp.stop();
    w.release();
    if (e !== null) w.reject(e);
    else w.resolve(this.info());
  }

  private acquireTimedOut(): void {
    this.d.stat.timeouts++;
    this.settle(new Errno(ETIMEDOUT, 'dhcp', this.ifp.name));
    this.stop();
  }

  info(): DhcpLeaseInfo {
    const l = this.lease;
    const mask = l?.mask ?? 0;
    return {
      ifname: this.ifp.name,
      address: formatInAddr(l?.yiaddr ?? 0),
      mask: formatInAddr(mask),
      prefixLen: maskToPrefix(mask) ?? 0,
      server: formatInAddr(l?.serverId ?? 0),
      routers: (l?.routers ?? []).map(formatInAddr),
      dns: (l?.dns ?? []).map(formatInAddr),
      domain: l?.domain ?? null,
      lease: l?.lease ?? 0,
      t1: l === null ? 0 : t1Of(l),
      t2: l === null ? 0 : t2Of(l),
      state: STATE_NAMES[this.state]!,
    };
  }

  // -- sending ---------------------------------------------------------------

  private send(type: number, to: number, ciaddr: number, requestedIp?: number, serverId?: number): void {
    const secs = Math.min(0xffff, Math.floor((this.now() - this.startedAt) / 1000));
    // Broadcast replies until we hold an address (RFC 2131 §4.1).
    const flags = ciaddr === INADDR_ANY ? DHCP_FLAG_BROADCAST : 0;
    const msg = dhcpBuildRequest({
      type, xid: this.xid, secs, flags, ciaddr, chaddr: this.ifp.lladdr!, requestedIp, serverId, hostname: this.k.hostname.split('.')[0],
    });
    if (type === DHCPDISCOVER) this.d.stat.discovers++;
    else if (type === DHCPREQUEST) this.d.stat.requests++;
    else if (type === DHCPRELEASE) this.d.stat.releases++;
    // Down, no buffer, no route: the retransmission timer tries again.
    try {
      const r = this.so.sendto(msg, MSG_DONTWAIT, { family: AF_INET, addr: formatInAddr(to), port: DHCP_SERVER_PORT });
      if (r instanceof Promise) r.catch(() => {});
    } catch {
      // counted by IP and UDP already
    }
  }

  /** RFC 2131 §4.1: 4 s, doubling to 64 s, each ±1 s uniformly at random. */
  private armBackoff(): void {
    const jitter = (this.k.host.random32() % 2001) - 1000;
    this.timer.reset(this.rto + jitter);
    this.rto = Math.min(this.rto * 2, 64_000);
  }

  private init(): void {
    this.state = State.SELECTING;
    this.xid = this.k.host.random32() >>> 0;
    this.startedAt = this.now();
    this.rto = 4000;
    this.offer = null;
    this.send(DHCPDISCOVER, INADDR_BROADCAST, INADDR_ANY);
    this.armBackoff();
  }

  private sendRequest(): void {
    const o = this.offer!;
    this.send(DHCPREQUEST, INADDR_BROADCAST, INADDR_ANY, o.yiaddr, o.serverId!);
  }

  /** A renewal REQUEST (RFC 2131 §4.3.2): ciaddr set, no server id or requested address; unicast at T1, broadcast at T2. */
  private sendRenew(): void {
    const l = this.lease!;
    this.send(DHCPREQUEST, this.state === State.RENEWING ? l.serverId! : INADDR_BROADCAST, l.yiaddr);
  }

  private timeout(): void {
    switch (this.state) {
      case State.INIT:
        this.init();
        break;
      case State.SELECTING:
        this.d.stat.retransmits++;
        this.send(DHCPDISCOVER, INADDR_BROADCAST, INADDR_ANY);
        this.armBackoff();
        break;
      case State.REQUESTING:
        this.d.stat.retransmits++;
        this.sendRequest();
        this.armBackoff();
        break;
      case State.BOUND:
        this.state = State.RENEWING;
        this.xid = this.k.host.random32() >>> 0;
        this.startedAt = this.now();
        this.renewStep();
        break;
      case State.RENEWING:
      case State.REBINDING:
        this.renewStep();
        break;
      default:
        break;
    }
  }

  /** One step while renewing or rebinding: move on at T2 or expiry, else send and wait half the time left (RFC 2131 §4.4.5). */
  private renewStep(): void {
    const l = this.lease!;
    const since = this.now() - this.boundAt;
    const t2 = t2Of(l) * 1000;
    const end = l.lease! * 1000;
    if (since >= end) {
      this.expire();
      return;
    }
    if (this.state === State.RENEWING && since >= t2) this.state = State.REBINDING;
    this.sendRenew();
    const edge = this.state === State.RENEWING ? t2 : end;
    const left = edge - since;
    this.timer.reset(Math.max(Math.min(left, 60_000), left / 2));
  }

  private expire(): void {
    this.d.stat.expired++;
    this.unconfigure();
    this.lease = null;
    if (this.renew) this.init();
    else this.stop();
  }

  // -- receiving -------------------------------------------------------------

  /*
   * One datagram at a time while the socket polls readable (the receive
   * may complete a tick later), then sleep on the socket again.
   */
  private readable(): void {
    if (this.state === State.STOPPED) return;
    if (!(this.so.poll(POLLIN) & POLLIN)) {
      this.so.sel.add(this.onReadable);
      return;
    }
    let got;
    try {
      got = this.so.recvfrom(RX_BUF, MSG_DONTWAIT);
    } catch {
      got = null; // a pending socket error (an ICMP unreachable) is cleared by reading it
    }
    Promise.resolve(got).then(this.onDatagram, this.onReadable);
  }

  private readonly onDatagram = (r: { data: Uint8Array } | null): void => {
    if (r !== null && this.state !== State.STOPPED) this.input(r.data);
    this.readable();
  };

  private input(data: Uint8Array): void {
    const st = this.d.stat;
    const m = dhcpParseReply(data);
    if (m === null) {
      st.badpacket++;
      return;
    }
    const mac = this.ifp.lladdr!;
    if (m.xid !== this.xid || !sameMac(m.chaddr, mac)) {
      st.badxid++;
      return;
    }
    switch (m.type) {
      case DHCPOFFER:
        st.offers++;
        if (this.state !== State.SELECTING) {
          st.unexpected++;
          return;
        }
        if (!usable(m)) {
          st.badlease++;
          return;
        }
        // The first usable offer (RFC 2131 §4.4.1 lets the client choose).
        this.offer = m;
        this.state = State.REQUESTING;
        this.rto = 4000;
        this.sendRequest();
        this.armBackoff();
        return;
      case DHCPACK:
        st.acks++;
        if (this.state !== State.REQUESTING && this.state !== State.RENEWING && this.state !== State.REBINDING) {
          st.unexpected++;
          return;
        }
        // While requesting, only the chosen server's ACK for the offered address counts.
        if (!usable(m) || (this.state === State.REQUESTING && (m.yiaddr !== this.offer!.yiaddr || m.serverId !== this.offer!.serverId))) {
          st.badlease++;
          return;
        }
        this.bind(m);
        return;
      case DHCPNAK:
        st.naks++;
        if (this.state !== State.REQUESTING && this.state !== State.RENEWING && this.state !== State.REBINDING) {
          st.unexpected++;
          return;
        }
        // RFC 2131 §4.4: back to INIT, the address (if any) unusable. As
        // dhcpcd, wait before starting over (1 s, doubling to 60 s while
        // the NAKs go on), so a server that always says no is not flooded.
        if (this.lease !== null) this.unconfigure();
        this.lease = null;
        this.state = State.INIT;
        this.timer.reset(this.nakDelay);
        this.nakDelay = Math.min(this.nakDelay * 2, 60_000);
        return;
      default:
        st.unexpected++;
    }
  }

  private bind(m: DhcpReply): void {
    const renewing = this.lease !== null && this.lease.yiaddr === m.yiaddr;
    if (this.lease !== null && !renewing) this.unconfigure();
    this.lease = m;
    this.boundAt = this.now();
    this.state = State.BOUND;
    this.nakDelay = 1000;
    if (renewing) this.d.stat.renewed++;
    else {
      this.d.stat.bound++;
      this.configure(m);
    }
    this.timer.stop();
    if (this.renew && m.lease !== INFINITE) this.timer.reset(t1Of(m) * 1000);
    this.settle(null);
  }

  // -- the kernel's configuration --------------------------------------------

  private configure(m: DhcpReply): void {
    const inet = this.d.inet;
    const plen = m.mask !== null ? (maskToPrefix(m.mask) ?? classfulPrefixLen(m.yiaddr)) : classfulPrefixLen(m.yiaddr);
    // No kernel DAD for a lease: the client uses it at once (to renew and
    // release from it); checking it first (RFC 2131 §2.2) is the client's part.
    inAddAddress(inet, this.ifp, m.yiaddr, plen, null, false, false);
    // The server's replies were broadcast, so its MAC is not known yet: ask
    // now, so that the unicast renewal and the release at destroy or halt
    // leave at once instead of waiting on ARP.
    const ia = inet.ifaddrOn(this.ifp, m.yiaddr);
    if (ia !== null && m.serverId !== null && ((m.serverId ^ m.yiaddr) & ia.mask) === 0) arpRequest(inet, this.ifp, m.yiaddr, m.serverId);
    const gw = m.routers[0];
    if (gw !== undefined) {
      try {
        rtmsg(inet, { type: 'add', dst: 'default', gateway: formatInAddr(gw) });
        this.ourRoute = gw;
      } catch {
        // A default route someone set by hand stays theirs.
      }
    }
    // As resolvconf(8) under dhcpcd: this interface's servers first, the rest kept.
    const rc = kernelResolv(this.k);
    this.ourDns = m.dns.map(formatInAddr).filter((a) => !rc.nameservers.includes(a));
    rc.nameservers = [...this.ourDns, ...rc.nameservers].slice(0, MAXNS);
    if (m.domain !== null && /^[A-Za-z0-9_.-]+$/.test(m.domain) && !rc.search.includes(m.domain.replace(/\.$/, ''))) {
      this.ourDomain = m.domain.replace(/\.$/, '');
      rc.search = [this.ourDomain, ...rc.search].slice(0, MAXDNSRCH);
    }
  }

  /** Take away what configure() added. */
  private unconfigure(): void {
    const inet = this.d.inet;
    const l = this.lease;
    if (l !== null) {
      const ia = inet.ifaddrOn(this.ifp, l.yiaddr);
      if (ia) inPurgeAddr(inet, ia);
    }
    if (this.ourRoute !== null) {
      try {
        rtmsg(inet, { type: 'delete', dst: 'default', gateway: formatInAddr(this.ourRoute) });
      } catch {
        // Gone with the address already.
      }
      this.ourRoute = null;
    }
    const rc = kernelResolv(this.k);
    rc.nameservers = rc.nameservers.filter((a) => !this.ourDns.includes(a));
    if (this.ourDomain !== null) rc.search = rc.search.filter((s) => s !== this.ourDomain);
    this.ourDns = [];
    this.ourDomain = null;
  }

  /** DHCPRELEASE (RFC 2131 §4.4.6: unicast to the server, from the address), then the address goes. */
  release(): void {
    const l = this.lease;
    if (l !== null && this.state !== State.STOPPED) {
      this.xid = this.k.host.random32() >>> 0;
      this.send(DHCPRELEASE, l.serverId!, l.yiaddr, undefined, l.serverId!);
      this.unconfigure();
      this.lease = null;
    }
    this.stop();
  }

  /** Stop the timers and close the socket; the configuration stays. */
  stop(): void {
    this.settle(new Errno(ENXIO, 'dhcp', this.ifp.name));
    if (this.state === State.STOPPED) return;
    this.state = State.STOPPED;
    this.timer.stop();
    this.giveUp.stop();
    this.so.sel.remove(this.onReadable);
    void Promise.resolve(this.so.close()).catch(() => {});
    if (this.d.clients.get(this.ifp) === this) this.d.clients.delete(this.ifp);
  }
}

/** The lease, T1 and T2 (RFC 2131 §4.4.5 defaults: 0.5 and 0.875 of the lease), in seconds. */
function t1Of(l: DhcpReply): number {
  const lease = l.lease!;
  return l.t1 !== null && l.t1 < lease ? l.t1 : Math.floor(lease * 0.5);
}

function t2Of(l: DhcpReply): number {
  const lease = l.lease!;
  return l.t2 !== null && l.t2 < lease && l.t2 >= t1Of(l) ? l.t2 : Math.floor(lease * 0.875);
}

/** An offer or ACK a client can use: an address, a server identifier, a lease of at least a second. */
function usable(m: DhcpReply): boolean {
  return m.yiaddr !== INADDR_ANY && m.yiaddr !== INADDR_BROADCAST && m.serverId !== null && m.lease !== null && m.lease > 0;
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Per-kernel DHCP state: one client per interface, the counters. */
export class DhcpState {
  readonly clients = new Map<Ifnet, DhcpClient>();
  readonly stat = new DhcpStat();
  private haltHooked = false;
  constructor(readonly inet: Inet) {}

  call(msg: DhcpMsg): Promise<DhcpLeaseInfo | null> | DhcpLeaseInfo | null {
    if (msg === null || typeof msg !== 'object' || typeof msg.ifname !== 'string') throw new Errno(EINVAL);
    const ifp = this.inet.ns.ifs.unit(msg.ifname);
    const cur = this.clients.get(ifp);
    switch (msg.op) {
      case 'start': {
        if (ifp.lladdr === null) throw new Errno(EINVAL, 'dhcp', msg.ifname);
        if (cur !== undefined && cur.state !== State.STOPPED) {
          if (cur.lease !== null && cur.state !== State.INIT) return cur.info();
          throw new Errno(EBUSY, 'dhcp', msg.ifname);
        }
        const timeoutMs = msg.timeoutMs ?? 30_000;
        if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) throw new Errno(EINVAL);
        this.hookHalt();
        if (!ifp.isUp) this.inet.ns.ifs.setFlags(ifp, ifp.flags | IFF_UP);
        const c = new DhcpClient(this, ifp, msg.renew !== false);
        this.clients.set(ifp, c);
        return c.acquire(timeoutMs);
      }
      case 'release':
        if (cur === undefined) throw new Errno(ENXIO, 'dhcp', msg.ifname);
        this.clients.delete(ifp);
        cur.release();
        return null;
      case 'status':
        return cur === undefined ? null : cur.info();
      default:
        throw new Errno(EINVAL);
    }
  }

  /** The interface is going away: release first, while it can still send. */
  destroying(ifp: Ifnet): void {
    const c = this.clients.get(ifp);
    if (c === undefined) return;
    this.clients.delete(ifp);
    c.release();
  }

  /*
   * Hooked at the first start, after every component's own halt hooks, so
   * that (last registered, first run) it runs while the interfaces still send.
   */
  private hookHalt(): void {
    if (this.haltHooked) return;
    this.haltHooked = true;
    this.inet.kernel.onHalt(() => {
      for (const [ifp, c] of [...this.clients]) {
        this.clients.delete(ifp);
        c.release();
      }
    });
  }
}

export function dhcpStatsObject(st: DhcpStat): Record<string, number> {
  return { ...st };
}
