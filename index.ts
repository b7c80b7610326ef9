/*
 * rumpnet: rump kernels with a BSD TCP/IP stack, in TypeScript.
 *
 *   const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_shmif'] });
 *   await k.netconfig.ifcreate('shmif0');
 *   const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
 *
 * Linking a component here only makes it available; a kernel gets the ones
 * its `components` name, like a NetBSD rump kernel gets the libraries it was
 * linked with.
 */
import './kern/factions.js';
import './net/components.js';
import './net/if/component.js';
import './net/inet/component.js';
import './net/if/bridge_component.js';
import './net/inet6/component.js';
import './shmif/component.js';
import './net/if/virt_component.js';
import './net/if/tap_component.js';
import { bootKernel } from './kern/init.js';
import type { Kernel } from './kern/kernel.js';
import type { Hypercall } from './hypercall/types.js';
import { createNodeHost } from './hypercall/node.js';
import { NetConfig } from './net/netconfig.js';
import { kernelHandleEnv } from './net/node/handle.js';
import { createNet, type NetModule } from './net/node/net.js';
import { createDgram, type DgramModule } from './net/node/dgram.js';
import { createDns, faceLookup, type DnsModule } from './net/node/dns.js';
import { ResolverConfig, kernelResolv, parseHosts, parseResolvConf, type HostsEntry, type ResolvConf } from './net/resolv.js';

export interface RumpInitOptions {
  /** Components to link (NetBSD spellings accepted: `rumpnet_shmif`). Default: net, net_net, net_netinet, net_shmif. */
  components?: readonly string[];
  /** Bootstrap parameters (RUMP_NCPU, RUMP_VERBOSE, RUMP_MEMLIMIT); absent ones come from the host's environment. */
  env?: Record<string, string | undefined>;
  /** The host: a real process (default) or a `createSimHost()` for simulated networks. */
  host?: Hypercall;
  /**
   * The kernel's resolver configuration: resolv.conf(5) text or fields
   * (nameservers, search, ndots, timeout, attempts). Absent: no nameservers,
   * so names resolve from the hosts table and `localhost` only.
   */
  resolvConf?: string | Partial<ResolvConf>;
  /** The kernel's hosts table: hosts(5) text or entries. */
  hosts?: string | HostsEntry[];
}

/**
 * A booted kernel with buildrump's netconfig calls attached, and Node's
 * `net` and `dgram` modules on its sockets (`k.net.createServer()`, ...).
 */
export type RumpKernel = Kernel & {
  readonly netconfig: NetConfig;
  readonly net: NetModule;
  readonly dgram: DgramModule;
  /** Node's `dns`, resolving in this kernel's world (its resolver configuration, hosts table and sockets). */
  readonly dns: DnsModule;
  /** This kernel's resolv.conf and hosts table. */
  readonly resolver: ResolverConfig;
};

export const DEFAULT_COMPONENTS = ['net', 'net_net', 'net_netinet', 'net_shmif'] as const;

/** rump_init(): boot a kernel. Rejects with a BootError naming a bad parameter or component. */
export async function rumpInit(opts: RumpInitOptions = {}): Promise<RumpKernel> {
  const host = opts.host ?? createNodeHost();
  const k = bootKernel({ components: opts.components ?? DEFAULT_COMPONENTS, env: opts.env ?? {}, host });
  const resolver = new ResolverConfig(k.sys);
  try {
    if (opts.resolvConf !== undefined) {
      await resolver.set(typeof opts.resolvConf === 'string' ? stripHosts(parseResolvConf(opts.resolvConf)) : opts.resolvConf);
    }
    if (opts.hosts !== undefined) await resolver.set({ hosts: typeof opts.hosts === 'string' ? parseHosts(opts.hosts) : opts.hosts });
  } catch (e) {
    await k.halt();
    throw e;
  }
  const handleEnv = kernelHandleEnv(k);
  // Host names resolve in the kernel's world: its hosts table and its DNS
  // servers, asked over its own sockets on its own clock (a sim host too).
  const dns = createDns({
    sys: k.sys, timer: handleEnv.timer, hold: handleEnv.hold, random32: () => host.random32(), resolvConf: () => kernelResolv(k),
    inet6: handleEnv.inet6,
  });
  const env = { ...handleEnv, lookup: faceLookup(dns) };
  return Object.assign(k, { netconfig: new NetConfig(k.sys), net: createNet(env), dgram: createDgram(env), dns, resolver });
}

function stripHosts(c: ResolvConf): Partial<ResolvConf> {
  const { hosts: _hosts, ...rest } = c;
  return rest;
}

export { Kernel } from './kern/kernel.js';
export { BootError, knownComponents } from './kern/component.js';
export * from './kern/errno.js';
export {
  Sys, AF_UNSPEC, AF_INET, AF_INET6, AF_ROUTE, PF_INET, PF_ROUTE, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW,
  O_NONBLOCK, F_GETFL, F_SETFL, SHUT_RD, SHUT_WR, SHUT_RDWR, MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL,
  MSG_OOB, MSG_DONTROUTE, MSG_NOSIGNAL, RLIMIT_NOFILE, RLIM_INFINITY, type Rlimit,
  type Sockaddr, type SockaddrIn, type RecvResult, type PollFd,
} from './kern/sys.js';
export { POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL } from './kern/select.js';
export * from './net/socket.js';
export { NetConfig } from './net/netconfig.js';
export type * from './net/ioctl.js';
export { createNodeHost, createSimHost, SimHost, SimTap, NodeHost, BootParamError } from './hypercall/index.js';
export { hijackLibraryPath } from './hypercall/node.js';
export type { Hypercall, BootParams, BusMapping, TapBatch, TapDevice, TapOpenOptions } from './hypercall/types.js';
export { rumpClient, type RumpClient, type RemoteSys } from './sysproxy/client.js';
export { startRumpServer, type RumpServer } from './sysproxy/server.js';
export type { NetModule, NetSocket, NetServer } from './net/node/net.js';
export type { DgramModule, DgramSocket } from './net/node/dgram.js';
export type { DnsModule, DnsPromises, Resolver as DnsResolver, LookupAddress, LookupOptions } from './net/node/dns.js';
export { ResolverConfig, parseResolvConf, parseHosts, formatResolvConf, formatHosts, type ResolvConf, type HostsEntry } from './net/resolv.js';
