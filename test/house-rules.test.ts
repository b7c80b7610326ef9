/*
 * The rules of DESIGN.md that can be checked by reading the source:
 * only hypercall/ touches host time and randomness, and imports point down
 * the layers (hypercall <- kern <- net <- net/if, net/inet <- shmif <- sysproxy <- bin).
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(join(root, dir));
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(join(root, p)).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const kernelSide = ['kern', 'net', 'shmif', 'sysproxy', 'lab'].flatMap(tsFiles);

test('only hypercall/ reads a clock, arms a host timer or draws randomness', (t) => {
  const banned = /\b(Date\.now|new Date\(|performance\.now|process\.hrtime|setTimeout|setInterval|setImmediate|Math\.random)\b/;
  const offenders: string[] = [];
  for (const f of kernelSide) {
    const lines = readFileSync(join(root, f), 'utf8').split('\n');
    lines.forEach((line, i) => {
      // Node's API has a Socket#setTimeout (an idle timeout the facade runs on
      // kernel callouts): its declaration and calls are not host timers.
      const code = line
        .replace(/\/\/.*$/, '')
        .replace(/^\s*\*.*$/, '')
        .replace(/\.setTimeout\(/g, '.')
        .replace(/^\s*setTimeout\(msecs: number/, '');
      if (banned.test(code)) offenders.push(`${f}:${i + 1}: ${line.trim()}`);
    });
  }
  t.true(kernelSide.length > 10, 'the kernel sources were found');
  t.deepEqual(offenders, []);
});

function rank(p: string): number {
  if (p.startsWith('hypercall')) return 0;
  if (p.startsWith('kern')) return 1;
  // net/inet6 sits beside net/inet and uses it (TCP and the PCB layer are
  // shared, as NetBSD's netinet6 uses netinet); net/inet never imports it.
  if (p.startsWith('net/if/') || p.startsWith('net/inet/') || p.startsWith('net/inet6/')) return 3;
  if (p.startsWith('net')) return 2;
  if (p.startsWith('shmif')) return 4;
  // lab sits beside sysproxy: both build on shmif, net and kern.
  if (p.startsWith('sysproxy') || p.startsWith('lab/')) return 5;
  if (p.startsWith('bin')) return 6;
  return -1;
}

test('imports point down the layers', (t) => {
  const files = ['hypercall', 'kern', 'net', 'shmif', 'sysproxy', 'lab', 'bin'].flatMap(tsFiles);
  const up: string[] = [];
  for (const f of files) {
    const from = rank(f);
    const src = readFileSync(join(root, f), 'utf8');
    for (const m of src.matchAll(/from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2]!;
      const target = relative(root, resolve(root, dirname(f), spec));
      const to = rank(target);
      if (to > from) up.push(`${f} imports ${spec}`);
    }
  }
  t.true(files.length > 10);
  t.deepEqual(up, []);
});

test('net/inet never imports net/inet6 (IPv6 plugs into it through In6Ops and the switches)', (t) => {
  const files = tsFiles('net/inet');
  const up: string[] = [];
  for (const f of files) {
    const src = readFileSync(join(root, f), 'utf8');
    for (const m of src.matchAll(/from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
      const target = relative(root, resolve(root, dirname(f), m[1] ?? m[2]!));
      if (target.startsWith('net/inet6/')) up.push(`${f} imports ${m[1] ?? m[2]}`);
    }
  }
  t.true(files.length > 10);
  t.deepEqual(up, []);
});
