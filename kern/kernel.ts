/*
 * A rump kernel instance: what rump_init() builds. It owns its clock
 * (callouts on the hypercall host), sysctl tree, memory account, packet
 * buffer pool, file descriptors and whatever its components add (the
 * networking components keep interfaces, routes, ARP and PCBs here, so every
 * instance has its own namespaces).
 */
import type { Hypercall, BootParams } from '../hypercall/types.js';
import { CalloutWheel } from './callout.js';
import { Sysctl } from './sysctl.js';
import { MemAccount } from './mem.js';
import { MbufPool } from './mbuf.js';
import { Sys, type Domain } from './sys.js';
import { SelInfo } from './select.js';
import type { Component } from './component.js';

export const RUMP_VERSION = 'rumpnet 0.1.0';
export const OSTYPE = 'NetBSD';
export const OSRELEASE = '7.99.34';

/** The most kern.maxfiles a kernel takes (and its default without RUMP_MEMLIMIT). */
export const MAXFILES_MAX = 1 << 20;
/** The least it defaults to: NetBSD's historical per-process 1,024. */
export const MAXFILES_MIN = 1024;

/**
 * kern.maxfiles by default. A rump kernel is typically one server, so the
 * default has to hold a server's connections (100,000 idle pairs in one
 * process is 200,000 descriptors): 1,048,576 with no memory limit. Under
 * RUMP_MEMLIMIT, one file per 2 KiB of the limit (an idle connection costs
 * its two ends a few KiB of heap), never below 1,024. NetBSD likewise sizes
 * maxfiles from the machine's memory at boot.
 */
export function defaultMaxfiles(memlimit: number): number {
  if (!Number.isFinite(memlimit)) return MAXFILES_MAX;
  return Math.max(MAXFILES_MIN, Math.min(MAXFILES_MAX, Math.floor(memlimit / 2048)));
}

/** A typed slot where a component keeps its per-kernel state. */
export class SlotKey<T> {
  declare readonly _t: T;
  constructor(readonly name: string) {}
}

export class Kernel {
  readonly callouts: CalloutWheel;
  readonly sysctl = new Sysctl();
  readonly mem: MemAccount;
  readonly mbufs: MbufPool;
  readonly sys: Sys;
  /** Protocol families by AF_ number, filled by the networking components. */
  readonly domains = new Map<number, Domain>();
  /** Calls components add to every `Sys` of this kernel (`rtmsg`, `pcblist`, ...). */
  readonly sysExtensions = new Map<string, (...args: unknown[]) => unknown>();
  readonly components: Component[] = [];
  /**
   * The processes with descriptors here: the kernel's own (proc0, for
   * in-process calls) and one per rump_server client, as NetBSD gives each
   * rumpclient a process of the rump kernel's own (sockstat reads them).
   */
  readonly procs = new Set<Sys>();
  private lastPid = 0;
  /**
   * kern.maxfiles: open files the whole kernel may hold (ENFILE past it), and
   * the RLIMIT_NOFILE a new process starts with. See defaultMaxfiles.
   */
  maxfiles: number;
  /** Open files in all processes (NetBSD's nfiles). */
  nfiles = 0;
  readonly bootTime: number;
  hostname: string;
  halted = false;
  /** Notified once, at halt: sleepers that wait on no socket (poll) wake on it. */
  readonly haltSel = new SelInfo();
  private readonly slots = new Map<SlotKey<unknown>, unknown>();
  private readonly haltHooks: Array<() => void> = [];

  constructor(
    readonly host: Hypercall,
    readonly params: BootParams,
  ) {
    this.bootTime = host.now();
    this.callouts = new CalloutWheel(host);
    this.mem = new MemAccount(params.memlimit);
    this.mbufs = new MbufPool(this.mem, (n) => host.allocUninit(n));
    this.maxfiles = defaultMaxfiles(params.memlimit);
    this.hostname = `rump-${host.pid()}.${host.hostName()}`;
    this.sys = new Sys(this);
  }

  /** A process id for a new client process: 1, 2, … in this kernel's own pid space. */
  allocPid(): number {
    return ++this.lastPid;
  }

  /** Milliseconds since boot (what a rump kernel calls uptime). */
  uptime(): number {
    return this.host.now() - this.bootTime;
  }

  hasComponent(name: string): boolean {
    return this.components.some((c) => c.name === name);
  }

  setSlot<T>(key: SlotKey<T>, value: T): void {
    this.slots.set(key as SlotKey<unknown>, value);
  }

  /** A component's state; throws if that component is not linked. */
  slot<T>(key: SlotKey<T>): T {
    const v = this.slots.get(key as SlotKey<unknown>);
    if (v === undefined) throw new Error(`kernel has no ${key.name} (component not linked)`);
    return v as T;
  }

  trySlot<T>(key: SlotKey<T>): T | undefined {
    return this.slots.get(key as SlotKey<unknown>) as T | undefined;
  }

  /** Boot messages, printed only with RUMP_VERBOSE. */
  verbose(msg: string): void {
    if (this.params.verbose) this.host.log(msg);
  }

  /** Run `fn` at halt, last registered first. */
  onHalt(fn: () => void): void {
    this.haltHooks.push(fn);
  }

  /** Stop the kernel: close every file, detach devices, stop timers. Idempotent. */
  async halt(): Promise<void> {
    if (this.halted) return;
    this.halted = true;
    // Every process's files (proc0's and each rump_server client's) go.
    for (const p of [...this.procs]) await p.closeAll();
    this.haltSel.notify();
    for (let i = this.haltHooks.length - 1; i >= 0; i--) {
      try {
        this.haltHooks[i]!();
      } catch (e) {
        this.host.log(`halt: ${(e as Error).message}`);
      }
    }
    for (let i = this.components.length - 1; i >= 0; i--) {
      const c = this.components[i]!;
      try {
        c.fini?.(this);
      } catch (e) {
        this.host.log(`halt: ${c.name}: ${(e as Error).message}`);
      }
    }
    this.callouts.halt();
  }
}
