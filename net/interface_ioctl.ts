/*
 * Interface ioctls (NetBSD net/if.c ifioctl): create and destroy through the
 * cloners, flags, MTU, linkstr, the interface listing; address commands are
 * passed to the family that registered them (in_control for SIOCAIFADDR).
 */
import { Errno, EINVAL, EOPNOTSUPP, ENOTTY, EBUSY, EADDRNOTAVAIL } from '../kern/errno.js';
import { defineState } from '../kern/kernel.js';
import type { Ifnet } from './interface.js';
import type { NetStack } from './netstack.js';
import type { IfInfo } from './ioctl.js';
import { parseMac } from './wire/inaddr.js';

/** if_metric (SIOCSIFMETRIC): a routing metric for routing daemons; the kernel itself does not use it. */
const METRIC = defineState<Ifnet, number>('if_metric', () => 0);

/**
 * The interface's link-layer addresses besides the active one (NetBSD keeps
 * them all on if_addrlist; if_dl is the active one, here ifp.lladdr itself):
 * `factory` is the address the interface came with (if_hwdl), which can be
 * left but not deleted; `spare` the inactive ones, oldest first.
 */
interface LinkAddrs {
  factory: Uint8Array | null;
  spare: Uint8Array[];
}
const LINKADDRS = defineState<Ifnet, LinkAddrs>('if_linkaddrs', (ifp) => ({
  factory: ifp.lladdr ? ifp.lladdr.slice() : null,
  spare: [],
}));

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The MAC of a link address request: EINVAL unless unicast and of the interface's length. */
function linkArg(ifp: Ifnet, a: Record<string, unknown>): Uint8Array {
  const mac = typeof a.lladdr === 'string' ? parseMac(a.lladdr) : null;
  if (ifp.lladdr === null || mac === null || mac.length !== ifp.lladdr.length || mac[0]! & 1) throw new Errno(EINVAL);
  return mac;
}

function macString(mac: Uint8Array | null): string | null {
  return mac ? [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':') : null;
}

export function ifInfo(ns: NetStack, ifp: Ifnet): IfInfo {
  const s = ifp.stats;
  const info: IfInfo = {
    name: ifp.name,
    index: ifp.index,
    flags: ifp.flags,
    mtu: ifp.mtu,
    lladdr: macString(ifp.lladdr),
    linkstr: ifp.linkstr,
    inet: ns.inetAddrs(ifp),
    stats: {
      ipackets: s.ipackets, ierrors: s.ierrors, opackets: s.opackets, oerrors: s.oerrors,
      collisions: s.collisions, ibytes: s.ibytes, obytes: s.obytes, iqdrops: s.iqdrops,
      imcasts: s.imcasts, omcasts: s.omcasts, noproto: s.noproto,
    },
  };
  if (ifp.capabilities !== 0) {
    info.capabilities = ifp.capabilities;
    info.capenable = ifp.capenable;
  }
  const inet6 = ns.inet6Addrs(ifp);
  if (inet6.length > 0) info.inet6 = inet6;
  const metric = METRIC.peek(ifp);
  if (metric) info.metric = metric;
  const links = LINKADDRS.peek(ifp)?.spare;
  if (links && links.length > 0) info.links = links.map((m) => macString(m)!);
  return info;
}

function argObject(arg: unknown): Record<string, unknown> {
  if (arg === null || typeof arg !== 'object' || Array.isArray(arg)) throw new Errno(EINVAL);
  return arg as Record<string, unknown>;
}

function argName(a: Record<string, unknown>): string {
  if (typeof a.name !== 'string' || a.name.length === 0 || a.name.length > 15) throw new Errno(EINVAL);
  return a.name;
}

export function ifioctl(ns: NetStack, cmd: string, arg: unknown): unknown {
  const ifs = ns.ifs;
  switch (cmd) {
    case 'SIOCIFCREATE': {
      const name = argName(argObject(arg));
      return { name: ifs.create(name).name };
    }
    case 'SIOCIFCREATENEXT': {
      const a = argObject(arg);
      if (typeof a.base !== 'string' || !ifs.cloners.has(a.base)) throw new Errno(EINVAL);
      return { name: ifs.createNext(a.base).name };
    }
    case 'SIOCIFDESTROY':
      ifs.destroy(argName(argObject(arg)));
      return undefined;
    case 'SIOCIFGCLONERS':
      // Newest first, as NetBSD's if_clone_attach inserts at the head of the list.
      return [...ifs.cloners.keys()].reverse();
    case 'SIOCGIFCONF': {
      const a = arg === undefined || arg === null ? {} : argObject(arg);
      if (a.name !== undefined) return [ifInfo(ns, ifs.unit(argName(a)))];
      return ifs.list.map((ifp) => ifInfo(ns, ifp));
    }
    case 'SIOCGIFFLAGS':
      return { flags: ifs.unit(argName(argObject(arg))).flags };
    case 'SIOCSIFFLAGS': {
      const a = argObject(arg);
      const ifp = ifs.unit(argName(a));
      if (typeof a.flags !== 'number' || !Number.isInteger(a.flags)) throw new Errno(EINVAL);
      ifs.setFlags(ifp, a.flags & 0xffff);
      return undefined;
    }
    case 'SIOCZIFDATA': {
      // The counters as they were, then zeroed (ifconfig -z).
      const ifp = ifs.unit(argName(argObject(arg)));
      const stats = ifInfo(ns, ifp).stats;
      const st = ifp.stats as unknown as Record<string, number>;
      for (const key of Object.keys(st)) st[key] = 0;
      return { stats };
    }
    case 'SIOCALIFADDR': {
      const a = argObject(arg);
      const ifp = ifs.unit(argName(a));
      const mac = linkArg(ifp, a);
      const cur = ifp.lladdr!;
      const la = LINKADDRS.get(ifp);
      const at = la.spare.findIndex((m) => sameMac(m, mac));
      // Without `active` the address waits on the list as a spare; with it
      // the interface takes it and the one it had becomes a spare.
      if (a.active !== true || sameMac(mac, cur)) {
        if (at < 0 && !sameMac(mac, cur)) la.spare.push(mac);
        return undefined;
      }
      if (at >= 0) la.spare.splice(at, 1);
      la.spare.push(cur.slice());
      // Copied in place: the drivers and Ethernet input read ifp.lladdr as it is now.
      cur.set(mac);
      for (const l of ifs.listeners) l.lladdrChanged?.(ifp);
      return undefined;
    }
    case 'SIOCDLIFADDR': {
      // `ifconfig IF link MAC delete`: only a spare goes; the active and the
      // factory address are in use (EBUSY), as NetBSD's link_control answers.
      const a = argObject(arg);
      const ifp = ifs.unit(argName(a));
      const mac = linkArg(ifp, a);
      const la = LINKADDRS.get(ifp);
      if (sameMac(mac, ifp.lladdr!) || (la.factory !== null && sameMac(mac, la.factory))) throw new Errno(EBUSY);
      const at = la.spare.findIndex((m) => sameMac(m, mac));
      if (at < 0) throw new Errno(EADDRNOTAVAIL);
      la.spare.splice(at, 1);
      return undefined;
    }
    case 'SIOCGIFMTU':
      return { mtu: ifs.unit(argName(argObject(arg))).mtu };
    case 'SIOCSIFMETRIC': {
      const a = argObject(arg);
      const ifp = ifs.unit(argName(a));
      if (typeof a.metric !== 'number' || !Number.isInteger(a.metric) || a.metric < 0 || a.metric > 0x7fffffff) throw new Errno(EINVAL);
      METRIC.set(ifp, a.metric);
      return undefined;
    }
    case 'SIOCSIFMTU': {
      const a = argObject(arg);
      const ifp = ifs.unit(argName(a));
      const mtu = a.mtu;
      // ETHERMIN..ETHERMTU for Ethernet-like drivers; the driver may refuse more.
      if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 46 || mtu > (ifp.hdrlen ? 9000 : 65535)) throw new Errno(EINVAL);
      if (ifp.driver.ioctl) {
        try {
          ifp.driver.ioctl(ifp, cmd, a);
          return undefined;
        } catch (e) {
          if (!(e instanceof Errno && e.errno === EOPNOTSUPP)) throw e;
        }
      }
      ifp.mtu = mtu;
      return undefined;
    }
    case 'SIOCSIFCAP': {
      // ifioctl's SIOCSIFCAP: only bits the interface has; the driver
      // applies them (ENETRESET there means "reprogram the hardware").
      const a = argObject(arg);
      const ifp = ifs.unit(argName(a));
      const cap = a.capenable;
      if (typeof cap !== 'number' || !Number.isInteger(cap) || cap < 0 || (cap & ~ifp.capabilities) !== 0) throw new Errno(EINVAL);
      if (cap === ifp.capenable) return undefined;
      if (!ifp.driver.ioctl) throw new Errno(EINVAL);
      return ifp.driver.ioctl(ifp, cmd, a);
    }
    case 'SIOCSLINKSTR':
    case 'SIOCGLINKSTR': {
      const a = argObject(arg);
      const ifp = ifs.unit(argName(a));
      if (cmd === 'SIOCGLINKSTR') return { linkstr: ifp.linkstr };
      if (!ifp.driver.ioctl) throw new Errno(EINVAL);
      if (a.linkstr !== null && (typeof a.linkstr !== 'string' || a.linkstr.length === 0)) throw new Errno(EINVAL);
      return ifp.driver.ioctl(ifp, cmd, a);
    }
    default: {
      const fam = ns.familyIoctl.get(cmd);
      if (!fam) throw new Errno(ENOTTY);
      const a = argObject(arg);
      return fam(ifs.unit(argName(a)), cmd, a);
    }
  }
}

