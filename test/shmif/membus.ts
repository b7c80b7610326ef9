/*
 * Test helpers for the bus: an in-memory BusMapping (a plain Uint8Array, a
 * plain compare-and-swap: one thread, so that is atomic), the NetBSD
 * fixtures, and a seeded PRNG (tests draw no real randomness).
 */

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { BusMapping } from '../../hypercall/types.js';
import { BUS_SIZE, HOST_LITTLE_ENDIAN, getU32, putU32 } from '../../shmif/bus.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'netbsd');

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, name)));
}

export function fixtureText(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

export class MemBusMapping implements BusMapping {
  readonly bytes: Uint8Array;
  wakeups = 0;
  closed = false;
  private readonly watchers = new Set<() => void>();

  constructor(
    bytes: Uint8Array = new Uint8Array(BUS_SIZE),
    readonly path: string = 'membus',
  ) {
    this.bytes = bytes;
  }

  cas32(off: number, expect: number, value: number): number {
    const old = getU32(this.bytes, off, HOST_LITTLE_ENDIAN);
    if (old === expect >>> 0) putU32(this.bytes, off, value >>> 0, HOST_LITTLE_ENDIAN);
    return old;
  }

  store32(off: number, value: number): void {
    putU32(this.bytes, off, value >>> 0, HOST_LITTLE_ENDIAN);
  }

  wakeup(): void {
    this.wakeups++;
    for (const fn of this.watchers) fn();
  }

  watch(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  close(): void {
    this.closed = true;
  }
}

/** xorshift32: deterministic test data. */
export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed >>> 0) || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number {
    return this.next() % n;
  }
  fill(b: Uint8Array, from = 0, to = b.length): void {
    let i = from;
    // Four bytes per draw; the words are in host order, which is fine for noise.
    if (b.byteOffset % 4 === 0 && from % 4 === 0) {
      const words = new Uint32Array(b.buffer, b.byteOffset + from, (to - from) >>> 2);
      for (let k = 0; k < words.length; k++) words[k] = this.next();
      i = from + words.length * 4;
    }
    for (; i < to; i++) b[i] = this.next() & 0xff;
  }
}

/** A recognisable Ethernet frame of `len` bytes: broadcast, a b2:a0 source, bytes that encode `seq`. */
export function makeFrame(len: number, seq: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (seq * 7 + i) & 0xff;
  if (len >= 14) {
    f.fill(0xff, 0, 6);
    f.set([0xb2, 0xa0, (seq >>> 24) & 0xff, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff], 6);
    f[12] = 0x08;
    f[13] = 0x00;
  }
  return f;
}

/** What a reader delivered, copied (the deliver contract). */
export interface Got {
  frame: Uint8Array;
  sec: number;
  usec: number;
}

export function collector(): { got: Got[]; deliver: (buf: Uint8Array, off: number, len: number, sec: number, usec: number) => void } {
  const got: Got[] = [];
  return {
    got,
    deliver(buf, off, len, sec, usec) {
      got.push({ frame: buf.slice(off, off + len), sec, usec });
    },
  };
}
