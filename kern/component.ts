/*
 * Components: the pieces a rump kernel is linked from at run time
 * (NetBSD's RUMP_COMPONENT). Each names what it needs and the init level it
 * runs at; rumpInit initialises them in NetBSD's level order, and within a
 * level in the order their dependencies require.
 */
import type { Kernel } from './kernel.js';

/** NetBSD's rump component init levels, in the order rump_init runs them. */
export enum InitLevel {
  KERN = 0,
  NET = 10,
  NET_ROUTE = 11,
  NET_IF = 12,
  NET_IFCFG = 13,
  DEV = 20,
  POSTINIT = 30,
  SYSCALL = 40,
}

export interface Component {
  /** NetBSD's library name without `librump`: `net`, `net_net`, `net_netinet`, `net_shmif`. */
  readonly name: string;
  readonly requires: readonly string[];
  readonly level: InitLevel;
  init(k: Kernel): void;
  /** Undo at halt (close devices, stop timers). */
  fini?(k: Kernel): void;
}

const registry = new Map<string, Component>();

/** Make a component linkable by name. */
export function registerComponent(c: Component): void {
  registry.set(c.name, c);
}

export function knownComponents(): string[] {
  return [...registry.keys()].sort();
}

/** Error raised while booting: a bad parameter, an unknown or unsatisfied component. */
export class BootError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BootError';
  }
}

/**
 * Turn a user's spelling into a component name: `rumpnet_shmif`,
 * `librumpnet_shmif`, `net_shmif` and `rumpnet_shmif.so` all mean `net_shmif`;
 * `rumpnet` / `librumpnet` mean `net`; the other factions alike (`rumpdev`
 * is `dev`, `rumpvfs` is `vfs`).
 */
export function normalizeComponentName(spec: string): string {
  let s = spec.trim();
  s = s.replace(/\.so(\.\d+)*$/, '');
  s = s.replace(/^lib/, '');
  s = s.replace(/^rump(?:net)?(?=_|$)/, (m) => (m === 'rumpnet' ? 'net' : ''));
  s = s.replace(/^rump(?=(?:dev|vfs|kern|fs)(?:_|$))/, '');
  s = s.replace(/^_/, '');
  return s;
}

/** Resolve and order the components to link, or throw a BootError. */
export function resolveComponents(names: readonly string[]): Component[] {
  const chosen = new Map<string, Component>();
  for (const raw of names) {
    const name = normalizeComponentName(raw);
    const c = registry.get(name);
    if (!c) throw new BootError(`unknown component "${raw}" (known: ${knownComponents().join(', ')})`);
    chosen.set(name, c);
  }
  for (const c of chosen.values()) {
    for (const dep of c.requires) {
      if (!chosen.has(dep)) throw new BootError(`component "${c.name}" requires "${dep}", which is not linked`);
    }
  }
  // Topological order, stable by level then by the order given.
  const ordered: Component[] = [];
  const done = new Set<string>();
  const visit = (c: Component, stack: string[]): void => {
    if (done.has(c.name)) return;
    if (stack.includes(c.name)) throw new BootError(`component dependency cycle: ${[...stack, c.name].join(' -> ')}`);
    for (const dep of c.requires) visit(chosen.get(dep)!, [...stack, c.name]);
    done.add(c.name);
    ordered.push(c);
  };
  const byLevel = [...chosen.values()].sort((a, b) => a.level - b.level);
  for (const c of byLevel) visit(c, []);
  return ordered;
}
