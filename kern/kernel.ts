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
import { Sys, type Domain, type SysExtName, type SysExtensions } from './sys.js';
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

/**
 * Something components hang typed state on: a kernel (its protocols'
 * tables, caches, limiters) or an interface (its driver's softc, its
 * multicast filter). The state is reached only through a StateKey.
 */
export interface StateOwner {
  /** @internal the values of StateKeys (read them through the key). */
  readonly states: Map<object, unknown>;
}

/**
 * A typed key for state a component keeps on an owner: the one way state
 * hangs off a kernel or an interface (NetBSD keeps such state in
 * per-domain globals and softcs; here every kernel of a process has its
 * own). Keys are constants made at module level with defineKernelState or
 * defineState; the values live in each owner.
 */
export class StateKey<O extends StateOwner, T> {
  constructor(
    readonly name: string,
    private readonly init: ((owner: O) => T) | null,
  ) {}

  /** The owner's value: set at attach, or made by `init` on first use; throws when neither (component not linked). */
  get(owner: O): T {
    const v = owner.states.get(this);
    if (v !== undefined) return v as T;
    if (this.init === null) throw new Error(`no ${this.name} here (component not linked)`);
    const made = this.init(owner);
    owner.states.set(this, made);
    return made;
  }

  /** The owner's value if it has one (never made here). */
  peek(owner: O): T | undefined {
    return owner.states.get(this) as T | undefined;
  }

  set(owner: O, v: T): void {
    owner.states.set(this, v);
  }

  delete(owner: O): void {
    owner.states.delete(this);
  }
}

/** Per-kernel state of type T. */
export type KernelState<T> = StateKey<Kernel, T>;

/**
 * A key for per-kernel state of type T. With `init`, a kernel's value is
 * made on first `get`; without, the component `set`s it at attach and
 * `get` on a kernel without it throws.
 */
export function defineKernelState<T>(name: string, init?: (k: Kernel) => T): KernelState<T> {
  return new StateKey<Kernel, T>(name, init ?? null);
}

/** A key for state of type T on another owner (an interface: `defineState<Ifnet, T>`). */
export function defineState<O extends StateOwner, T>(name: string, init?: (owner: O) => T): StateKey<O, T> {
  return new StateKey<O, T>(name, init ?? null);
}

export class Kernel implements StateOwner {
  readonly callouts: CalloutWheel;
  readonly sysctl = new Sysctl();
  readonly mem: MemAccount;
  readonly mbufs: MbufPool;
  readonly sys: Sys;
  /** Protocol families by AF_ number, filled by the networking components. */
  readonly domains = new Map<number, Domain>();
  /**
   * @internal Calls components add to every `Sys` of this kernel (`rtmsg`,
   * `pcblist`, ...): typed through `sys.extend`, `sys.ext` and `extension`.
   */
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
  /** @internal the values of StateKeys (read them through the key). */
  readonly states = new Map<object, unknown>();
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

  /** The call a component added under `name` (typed by it), or undefined when none did. */
  extension<N extends SysExtName>(name: N): SysExtensions[N] | undefined {
    return this.sysExtensions.get(name) as SysExtensions[N] | undefined;
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
