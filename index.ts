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
import './net/components.js';
import './net/if/component.js';
import './net/inet/component.js';
import './shmif/component.js';
import { bootKernel } from './kern/init.js';
import type { Kernel } from './kern/kernel.js';
import type { Hypercall } from './hypercall/types.js';
import { createNodeHost } from './hypercall/node.js';
import { NetConfig } from './net/netconfig.js';

export interface RumpInitOptions {
  /** Components to link (NetBSD spellings accepted: `rumpnet_shmif`). Default: net, net_net, net_netinet, net_shmif. */
  components?: readonly string[];
  /** Bootstrap parameters (RUMP_NCPU, RUMP_VERBOSE, RUMP_MEMLIMIT); absent ones come from the host's environment. */
  env?: Record<string, string | undefined>;
  /** The host: a real process (default) or a `createSimHost()` for simulated networks. */
  host?: Hypercall;
}

/** A booted kernel with buildrump's netconfig calls attached. */
export type RumpKernel = Kernel & { readonly netconfig: NetConfig };

export const DEFAULT_COMPONENTS = ['net', 'net_net', 'net_netinet', 'net_shmif'] as const;

/** rump_init(): boot a kernel. Rejects with a BootError naming a bad parameter or component. */
export async function rumpInit(opts: RumpInitOptions = {}): Promise<RumpKernel> {
  const host = opts.host ?? createNodeHost();
  const k = bootKernel({ components: opts.components ?? DEFAULT_COMPONENTS, env: opts.env ?? {}, host });
  return Object.assign(k, { netconfig: new NetConfig(k.sys) });
}

export { Kernel } from './kern/kernel.js';
export { BootError, knownComponents } from './kern/component.js';
export * from './kern/errno.js';
export {
  Sys, AF_UNSPEC, AF_INET, AF_INET6, AF_ROUTE, PF_INET, PF_ROUTE, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW,
  O_NONBLOCK, F_GETFL, F_SETFL, SHUT_RD, SHUT_WR, SHUT_RDWR, MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL,
  MSG_OOB, MSG_DONTROUTE, MSG_NOSIGNAL,
  type Sockaddr, type SockaddrIn, type RecvResult, type PollFd,
} from './kern/sys.js';
export { POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL } from './kern/select.js';
export * from './net/socket.js';
export { NetConfig } from './net/netconfig.js';
export type * from './net/ioctl.js';
export { createNodeHost, createSimHost, SimHost, NodeHost, BootParamError } from './hypercall/index.js';
export type { Hypercall, BootParams, BusMapping } from './hypercall/types.js';
export { rumpClient, type RumpClient, type RemoteSys } from './sysproxy/client.js';
export { startRumpServer, type RumpServer } from './sysproxy/server.js';
