/*
 * Packet buffers: the cluster free list reuses freed buffers without
 * changing what a caller sees (a zeroed buffer of exactly the asked size)
 * or what the memory account is charged.
 */
import test from 'ava';
import { MemAccount } from '../../kern/mem.js';
import { DEFAULT_HEADROOM, M64BYTES, MCLBYTES, MCL_POOL_MAX, MJUMBYTES, MJUM_POOL_MAX, M_BCAST, M_CSUM_TCPv4, MbufPool } from '../../kern/mbuf.js';

test('a reused buffer comes back zeroed, of the asked size, with fresh packet header fields', (t) => {
  const mem = new MemAccount(1 << 20);
  const pool = new MbufPool(mem);
  const m = pool.get(1500)!;
  m.buf.fill(0xff);
  m.flags = M_BCAST;
  m.rcvif = 3;
  const backing = m.buf.buffer;
  pool.free(m);
  t.is(pool.idleClusters, 1);
  const n = pool.get(100, 40)!;
  t.is(n.buf.buffer, backing, 'the freed cluster is reused');
  t.not(n, m, 'a new Mbuf object: the stale one stays freed');
  t.is(n.buf.length, 140);
  t.is(n.off, 40);
  t.is(n.len, 100);
  t.is(n.trailing, 0);
  t.true(n.buf.every((b) => b === 0));
  t.is(n.flags, 0);
  t.is(n.rcvif, 0);
  t.is(n.nextpkt, null);
});

test('copyin into a reused buffer zeroes the headroom and holds exactly the copy', (t) => {
  const pool = new MbufPool(new MemAccount(1 << 20));
  const m = pool.get(600)!;
  m.buf.fill(0xee);
  pool.free(m);
  const src = new Uint8Array([1, 2, 3, 4, 5]);
  const n = pool.copyin(src, 1, 3)!;
  t.is(n.buf.length, DEFAULT_HEADROOM + 3);
  t.true(n.buf.subarray(0, DEFAULT_HEADROOM).every((b) => b === 0));
  t.deepEqual([...n.data()], [2, 3, 4]);
});

test('the memory account is charged the asked size on get and released on free, pooled or not', (t) => {
  const mem = new MemAccount(1 << 20);
  const pool = new MbufPool(mem);
  const small = pool.get(100)!;
  const big = pool.get(MCLBYTES)!; // larger than a cluster: a jumbo cluster
  const huge = pool.get(MJUMBYTES)!; // larger than a jumbo cluster: a 64 KiB cluster
  const giant = pool.get(M64BYTES)!; // larger than that: a buffer of its own
  t.is(mem.used, DEFAULT_HEADROOM + 100 + DEFAULT_HEADROOM + MCLBYTES + DEFAULT_HEADROOM + MJUMBYTES + DEFAULT_HEADROOM + M64BYTES);
  t.is(big.buf.length, DEFAULT_HEADROOM + MCLBYTES);
  t.is(huge.buf.length, DEFAULT_HEADROOM + MJUMBYTES);
  t.is(giant.buf.length, DEFAULT_HEADROOM + M64BYTES);
  pool.free(small);
  pool.free(big);
  pool.free(huge);
  pool.free(giant);
  t.is(mem.used, 0, 'idle clusters are not charged');
  t.is(pool.idleClusters, 1, 'one cluster kept');
  t.is(pool.idleJumbos, 1, 'one jumbo cluster kept');
  t.is(pool.idleBigs, 1, 'one 64 KiB cluster kept; the oversized buffer is not');
  const again64 = pool.get(60_000)!;
  t.is(pool.idleBigs, 0, 'and handed out again');
  pool.free(again64);
  t.is(pool.inUse, 0);
  const again = pool.get(100)!;
  t.is(mem.used, DEFAULT_HEADROOM + 100);
  pool.free(again);
  t.is(mem.used, 0);
});

test('a double free is ignored: the account stays exact and the buffer is never handed out twice', (t) => {
  const mem = new MemAccount(1 << 20);
  const pool = new MbufPool(mem);
  const m = pool.get(1000)!;
  pool.free(m);
  pool.free(m);
  t.is(mem.used, 0);
  t.is(pool.stats.frees, 1);
  t.is(pool.idleClusters, 1);
  const a = pool.get(1000)!;
  const b = pool.get(1000)!;
  t.not(a.buf.buffer, b.buf.buffer);
  pool.free(m); // a stale reference to the first owner must not free `a`'s buffer
  t.is(mem.used, 2 * (DEFAULT_HEADROOM + 1000));
  t.is(pool.idleClusters, 0);
  const c = pool.get(1000)!;
  t.not(c.buf.buffer, a.buf.buffer);
  t.not(c.buf.buffer, b.buf.buffer);
});

test('the free list is capped at MCL_POOL_MAX idle buffers', (t) => {
  const pool = new MbufPool(new MemAccount(1 << 30));
  const ms = [];
  for (let i = 0; i < MCL_POOL_MAX + 10; i++) ms.push(pool.get(1460)!);
  for (const m of ms) pool.free(m);
  t.is(pool.idleClusters, MCL_POOL_MAX);
  t.is(pool.inUse, 0);
});

test('at the memory limit get fails and takes nothing from the free list', (t) => {
  const mem = new MemAccount(DEFAULT_HEADROOM + 1000);
  const pool = new MbufPool(mem);
  const m = pool.get(1000)!;
  t.is(pool.get(1), null);
  t.is(pool.stats.drops, 1);
  pool.free(m);
  t.is(pool.get(1001), null);
  t.is(pool.idleClusters, 1);
  t.not(pool.get(1000), null);
});

test('a jumbo cluster (lo0 segments, stream writes) is reused like a cluster: zeroed, exact size, capped', (t) => {
  const pool = new MbufPool(new MemAccount(1 << 30));
  const m = pool.get(33_000)!;
  m.buf.fill(0xab);
  const backing = m.buf.buffer;
  pool.free(m);
  const n = pool.get(20_000, 40)!;
  t.is(n.buf.buffer, backing, 'the freed jumbo cluster is reused');
  t.is(n.buf.length, 20_040);
  t.is(n.trailing, 0);
  t.true(n.buf.every((b) => b === 0), 'zeroed like a new buffer');
  pool.free(n);
  const ms = [];
  for (let i = 0; i < MJUM_POOL_MAX + 5; i++) ms.push(pool.get(30_000)!);
  for (const x of ms) pool.free(x);
  t.is(pool.idleJumbos, MJUM_POOL_MAX);
  t.is(pool.idleClusters, 0, 'the two free lists are apart');
});

test('getRaw zeroes the headroom and the header, not the payload the caller copies in', (t) => {
  const pool = new MbufPool(new MemAccount(1 << 20));
  const m = pool.get(1400, 36)!;
  m.buf.fill(0xff);
  pool.free(m);
  const n = pool.getRaw(1400, 36, 32)!;
  t.is(n.buf.length, 1436);
  t.is(n.off, 36);
  t.is(n.len, 1400);
  t.true(n.buf.subarray(0, 36 + 32).every((b) => b === 0), 'headroom and header bytes are zero');
  t.is(n.csumFlags, 0);
});

test('checksum-offload flags start clear and travel with dup and a prepend that moves the packet', (t) => {
  const pool = new MbufPool(new MemAccount(1 << 20));
  const m = pool.get(100, 0)!;
  t.is(m.csumFlags, 0);
  m.csumFlags = M_CSUM_TCPv4;
  const d = pool.dup(m)!;
  t.is(d.csumFlags, M_CSUM_TCPv4);
  const p = pool.prepend(m, 20)!;
  t.not(p, m, 'no headroom: moved into a new buffer');
  t.is(p.csumFlags, M_CSUM_TCPv4);
});
