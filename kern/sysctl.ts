/*
 * The sysctl tree (NetBSD sysctl(7)): named kernel variables, read by
 * `rump.sysctl` and `netstat -s`, written by `rump.sysctl -w`.
 *
 * Leaves are typed: `int` (with optional bounds), `bool` (0/1, NetBSD prints
 * them as integers), `string`, or `struct` (read-only records such as
 * net.inet.ip.stats, returned as plain objects of counters).
 */
import { Errno, EINVAL, ENOENT, EPERM, EISDIR } from './errno.js';

export type SysctlValue = number | string | Record<string, number>;

export interface SysctlLeafSpec {
  type: 'int' | 'bool' | 'string' | 'struct';
  description?: string;
  get(): SysctlValue;
  /** Absent: read-only. Throw an Errno (EINVAL) to refuse a value. */
  set?(value: SysctlValue): void;
  min?: number;
  max?: number;
}

interface SysctlNode {
  name: string;
  children: Map<string, SysctlNode> | null;
  leaf: SysctlLeafSpec | null;
}

export interface SysctlEntry {
  name: string;
  type: SysctlLeafSpec['type'];
  value: SysctlValue;
  writable: boolean;
}

/**
 * Node names and paths, one copy for every kernel of the process: each
 * kernel builds the same few hundred names (many from template strings),
 * and 1,000 kernels would otherwise hold 1,000 copies (strings never change).
 */
const names = new Map<string, string>();

function intern(s: string): string {
  const had = names.get(s);
  if (had !== undefined) return had;
  names.set(s, s);
  return s;
}

export class Sysctl {
  private readonly root: SysctlNode = { name: '', children: new Map(), leaf: null };

  /** Create a leaf; intermediate nodes are created as needed. */
  create(path: string, spec: SysctlLeafSpec): void {
    const parts = path.split('.');
    let node = this.root;
    for (let i = 0; i < parts.length; i++) {
      const part = intern(parts[i]!);
      if (!node.children) throw new Error(`sysctl: ${path}: ${node.name} is a leaf`);
      let next = node.children.get(part);
      const last = i === parts.length - 1;
      if (!next) {
        next = { name: intern(last ? path : parts.slice(0, i + 1).join('.')), children: last ? null : new Map(), leaf: null };
        node.children.set(part, next);
      } else if (last) {
        throw new Error(`sysctl: ${path} already exists`);
      }
      node = next;
    }
    node.leaf = spec;
  }

  /** An int leaf backed by a getter/setter pair with bounds. */
  int(path: string, get: () => number, set: ((v: number) => void) | null, min = -0x80000000, max = 0x7fffffff, description?: string): void {
    // The setter itself, not a wrapper closure: Sysctl.set hands int leaves
    // numbers only (checked and bounded there), and a wrapper per leaf costs
    // every kernel some 60 closures (a lab of 1,000 hosts holds 1,111 kernels).
    const spec: SysctlLeafSpec = { type: 'int', min, max, get, description };
    if (set) spec.set = set as (v: SysctlValue) => void;
    this.create(path, spec);
  }

  /*
   * String and struct leaves from their functions. Callers pass the
   * functions as arguments rather than in a spec literal: under tsx each
   * function in an object literal has its name set at run time and so
   * carries a property store (~310 B), in every kernel.
   */
  string(path: string, get: () => string, set: ((v: string) => void) | null, description?: string): void {
    const spec: SysctlLeafSpec = { type: 'string', get, description };
    if (set) spec.set = set as (v: SysctlValue) => void;
    this.create(path, spec);
  }

  struct(path: string, get: () => Record<string, number>, description?: string): void {
    this.create(path, { type: 'struct', get, description });
  }

  /** Remove a leaf or a subtree (a component or interface going away). */
  destroy(path: string): void {
    const parts = path.split('.');
    const leafName = parts.pop()!;
    const parent = this.find(parts);
    parent?.children?.delete(leafName);
  }

  private find(parts: string[]): SysctlNode | null {
    let node: SysctlNode | undefined = this.root;
    for (const p of parts) {
      node = node.children?.get(p);
      if (!node) return null;
    }
    return node;
  }

  has(path: string): boolean {
    return this.find(path.split('.')) !== null;
  }

  /** Read one leaf. ENOENT for an unknown name, EISDIR for an inner node. */
  get(path: string): SysctlValue {
    const node = this.find(path.split('.'));
    if (!node) throw new Errno(ENOENT, 'sysctl', path);
    if (!node.leaf) throw new Errno(EISDIR, 'sysctl', path);
    return node.leaf.get();
  }

  /** Write one leaf, parsing strings for int leaves the way sysctl(8) does. */
  set(path: string, value: SysctlValue): void {
    const node = this.find(path.split('.'));
    if (!node) throw new Errno(ENOENT, 'sysctl', path);
    const leaf = node.leaf;
    if (!leaf) throw new Errno(EISDIR, 'sysctl', path);
    if (!leaf.set || leaf.type === 'struct') throw new Errno(EPERM, 'sysctl', path);
    let v: SysctlValue = value;
    if (leaf.type === 'int' || leaf.type === 'bool') {
      if (typeof v === 'string') {
        if (!/^-?(\d+|0x[0-9a-fA-F]+)$/.test(v.trim())) throw new Errno(EINVAL, 'sysctl', path);
        v = Number(v.trim());
      }
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new Errno(EINVAL, 'sysctl', path);
      const min = leaf.type === 'bool' ? 0 : leaf.min ?? -0x80000000;
      const max = leaf.type === 'bool' ? 1 : leaf.max ?? 0x7fffffff;
      if (v < min || v > max) throw new Errno(EINVAL, 'sysctl', path);
    } else if (leaf.type === 'string') {
      if (typeof v !== 'string') v = String(v);
    }
    leaf.set(v);
  }

  /** Every leaf under `prefix` (all with ''), in name order, like `sysctl -a`. */
  list(prefix = ''): SysctlEntry[] {
    const out: SysctlEntry[] = [];
    const start = prefix ? this.find(prefix.split('.')) : this.root;
    if (!start) throw new Errno(ENOENT, 'sysctl', prefix);
    const walk = (n: SysctlNode): void => {
      if (n.leaf) out.push({ name: n.name, type: n.leaf.type, value: n.leaf.get(), writable: !!n.leaf.set });
      if (n.children) for (const k of [...n.children.keys()].sort()) walk(n.children.get(k)!);
    };
    walk(start);
    return out;
  }

  /** Whether `path` is an inner node (for `sysctl net.inet`). */
  isNode(path: string): boolean {
    const n = this.find(path.split('.'));
    if (!n) throw new Errno(ENOENT, 'sysctl', path);
    return n.children !== null && n.leaf === null;
  }
}

