/*
 * Two kernels on one Ethernet hub for TCP socket tests, with the leak
 * check every test ends with:
 *
 *     kernel A  hub0 10.0.0.1/24 ═══ hub "lan" ═══ hub0 10.0.0.2/24  kernel B
 *
 *   const n = await pair();
 *   const { cfd, sfd } = await n.connected();   // A connected to B:PORT
 *   ...
 *   await n.closeAllAndCheck(t);               // TIME_WAIT expired: no PCB, callout or mbuf left
 */
import type { ExecutionContext } from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, SOCK_STREAM, type Sockaddr } from '../../kern/sys.js';
import { inet } from '../../net/inet/inet.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { bootKernels, ifconfig, type Kernels } from '../helpers/kernels.js';

export const A_ADDR = '10.0.0.1';
export const B_ADDR = '10.0.0.2';
export const PORT = 7777;

export const sin = (addr: string, port: number): Sockaddr => ({ family: AF_INET, addr, port });

export interface Pair extends Kernels {
  a: Kernel;
  b: Kernel;
  hub: Hub;
  /** A listener on B:PORT (backlog 16) and a connection from A, accepted. */
  connected(): Promise<{ cfd: number; sfd: number; lfd: number }>;
  /** Close every descriptor, let TIME_WAIT run out, and assert nothing is left. */
  closeAllAndCheck(t: ExecutionContext): Promise<void>;
}

export async function pair(seed = 1, sysctl: Record<string, number | string> = {}): Promise<Pair> {
  const ks = bootKernels(2, seed);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const hub = new Hub('lan');
  attachEther(a, hub);
  attachEther(b, hub);
  ifconfig(a, 'hub0', `${A_ADDR}/24`);
  ifconfig(b, 'hub0', `${B_ADDR}/24`);
  for (const k of [a, b]) for (const [name, v] of Object.entries(sysctl)) await k.sys.sysctlSet(name, v);
  await ks.sim.run(1);
  const n: Pair = {
    ...ks,
    a,
    b,
    hub,
    async connected() {
      const lfd = await b.sys.socket(AF_INET, SOCK_STREAM, 0);
      await b.sys.bind(lfd, sin('0.0.0.0', PORT));
      await b.sys.listen(lfd, 16);
      const cfd = await a.sys.socket(AF_INET, SOCK_STREAM, 0);
      const cp = a.sys.connect(cfd, sin(B_ADDR, PORT));
      const ap = b.sys.accept(lfd);
      await ks.sim.run(10);
      await cp;
      const { fd: sfd } = await ap;
      return { cfd, sfd, lfd };
    },
    async closeAllAndCheck(t) {
      for (const k of [a, b]) for (const fd of k.sys.openFds()) await k.sys.close(fd);
      // Long enough for FIN_WAIT_2 timeouts, TIME_WAIT (2 MSL), SYN cache
      // entries, and the ARP entries (20 minutes) whose callouts count too.
      await ks.sim.run(25 * 60_000);
      for (const [name, k] of [['A', a], ['B', b]] as const) {
        const i = inet(k);
        t.is(i.tcbtable.size, 0, `${name}: TCP PCBs left: ${JSON.stringify(await k.sys.ext('pcblist'))}`);
        t.is(i.tcp!.syncache.size, 0, `${name}: SYN cache entries left`);
        t.is(k.callouts.count, 0, `${name}: callouts left`);
        t.is(k.mbufs.inUse, 0, `${name}: mbufs left`);
      }
    },
  };
  return n;
}

/** Run the sim host until `p` settles (or `maxMs` of virtual time pass), then return its outcome. */
export async function until<T>(n: Kernels, p: Promise<T>, maxMs = 10 * 60_000): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await n.sim.runUntil(() => done, maxMs);
  return p;
}

/** Read until `n` bytes or end of file. */
export async function readN(k: Kernel, fd: number, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const d = await k.sys.read(fd, n - got);
    if (d.length === 0) break;
    out.set(d, got);
    got += d.length;
  }
  return got === n ? out : out.slice(0, got);
}

/** Write all of `data`. */
export async function writeAll(k: Kernel, fd: number, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length; ) off += await k.sys.write(fd, data.subarray(off));
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
