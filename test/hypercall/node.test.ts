// The node host: real clock and timers, the softint queue, and shmif bus
// files mapped through the native addon, within one process and across two.
import test from 'ava';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { createNodeHost } from '../../hypercall/node.js';
import type { BusMapping } from '../../hypercall/types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE_HOST_URL = pathToFileURL(join(ROOT, 'hypercall/node.ts')).href;
const BUS_SIZE = 1 << 20;

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-hypercall-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The u32 at `off`, in native byte order (what the atomics use). */
function u32(m: BusMapping, off: number): number {
  return new Uint32Array(m.bytes.buffer, m.bytes.byteOffset, m.bytes.length >>> 2)[off >>> 2]!;
}

function nativeBytes(word: number): number[] {
  return [...new Uint8Array(new Uint32Array([word]).buffer)];
}

/** Run a module script in a child Node with the TypeScript sources loadable. */
function runChild(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', script, NODE_HOST_URL, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('now() is monotonic milliseconds since the host was created', (t) => {
  const host = createNodeHost();
  const a = host.now();
  const b = host.now();
  t.true(a >= 0 && a < 1000);
  t.true(b >= a);
  t.is(host.kind, 'node');
});

test('now() is read afresh on every later turn, however long the synchronous run before it', async (t) => {
  const host = createNodeHost();
  const a = host.now();
  // 3 ms of synchronous work: a read in the same run may still answer the time it began.
  for (const t0 = performance.now(); performance.now() - t0 < 3; );
  t.true(host.now() >= a);
  await new Promise<void>((resolve) => setImmediate(resolve));
  const c = host.now();
  t.true(c - a >= 3, `now() moved ${c - a} ms over 3 ms of work and a turn`);
  // And within promise continuations too (a microtask checkpoint later).
  for (const t0 = performance.now(); performance.now() - t0 < 3; );
  await null;
  await null;
  t.true(host.now() - c >= 3);
});

test('a timer never fires before its deadline; a cancelled one never fires', async (t) => {
  t.timeout(10_000);
  const host = createNodeHost();
  let cancelledFired = false;
  const early = host.armTimer(host.now() + 1, () => (cancelledFired = true));
  host.cancelTimer(early);
  host.cancelTimer(early);
  const deadline = host.now() + 5;
  const firedAt = await new Promise<number>((resolve) => host.armTimer(deadline, () => resolve(host.now())));
  t.true(firedAt >= deadline, `fired at ${firedAt}, deadline ${deadline}`);
  t.false(cancelledFired, 'the earlier, cancelled timer would have fired first');
});

test('defer runs later, in FIFO order, and work deferred meanwhile still runs', async (t) => {
  const host = createNodeHost();
  const order: number[] = [];
  const done = new Promise<void>((resolve) => {
    host.defer((n: number) => {
      order.push(n);
      host.defer(() => resolve(), undefined);
    }, 1);
    host.defer((n: number) => order.push(n), 2);
    host.defer((n: number) => order.push(n), 3);
  });
  t.deepEqual(order, []);
  await done;
  t.deepEqual(order, [1, 2, 3]);
});

test('deferWake runs later, in FIFO order; a wake-up that re-queues itself forever does not starve timers', async (t) => {
  const host = createNodeHost();
  const order: number[] = [];
  host.deferWake((n: number) => order.push(n), 1);
  host.deferWake((n: number) => order.push(n), 2);
  t.deepEqual(order, [], 'never re-entrant');
  await new Promise<void>((resolve) => host.deferWake(resolve, undefined));
  t.deepEqual(order, [1, 2]);
  // Wake-ups run as microtasks, a bounded number of batches per turn of the
  // event loop: a timer still fires while a chain of them never ends.
  let spins = 0;
  let stop = false;
  const spin = (): void => {
    spins++;
    if (!stop) host.deferWake(spin, undefined);
  };
  host.deferWake(spin, undefined);
  await new Promise<void>((resolve) => host.armTimer(host.now() + 5, resolve));
  stop = true;
  t.true(spins > 1);
});

test('allocUninit hands out arrays of the asked length, their own memory', (t) => {
  const host = createNodeHost();
  for (const n of [0, 1, 100, 4096, 65536, 300_000]) {
    const a = host.allocUninit(n);
    t.true(a instanceof Uint8Array);
    t.is(a.constructor, Uint8Array, 'a plain Uint8Array, not a Buffer');
    t.is(a.length, n);
    if (n >= 4096) t.is(a.buffer.byteLength, n, 'not a slice of a shared pool');
  }
});

test('getparam reads the options object when given, else the environment', (t) => {
  process.env.RUMP_NODE_TEST_PARAM = 'from-env';
  t.is(createNodeHost().getparam('RUMP_NODE_TEST_PARAM'), 'from-env');
  const host = createNodeHost({ env: { RUMP_NCPU: '4' } });
  t.is(host.getparam('RUMP_NCPU'), '4');
  t.is(host.getparam('RUMP_NODE_TEST_PARAM'), undefined);
  delete process.env.RUMP_NODE_TEST_PARAM;
  t.true(host.hostNcpu() >= 1);
  t.is(host.pid(), process.pid);
  t.true(host.hostName().length > 0);
});

test('randomness: 32-bit values, and fills past the 64 KiB getRandomValues limit', (t) => {
  const host = createNodeHost();
  const values = Array.from({ length: 600 }, () => host.random32());
  for (const v of values) t.true(Number.isInteger(v) && v >= 0 && v <= 0xffffffff);
  t.true(new Set(values).size > 590);
  const buf = new Uint8Array(70_000);
  host.randomFill(buf);
  t.true(buf.subarray(65_536).some((b) => b !== 0));
});

test('two mappings of one bus file in one process share one mapping', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'bus1');
  const hostA = createNodeHost();
  const hostB = createNodeHost();
  const a = hostA.mapBus(path, BUS_SIZE);
  symlinkSync(path, join(dir, 'alias'));
  const b = hostB.mapBus(join(dir, 'alias'), BUS_SIZE);
  t.teardown(() => {
    a.close();
    b.close();
  });
  t.is(statSync(path).size, BUS_SIZE, 'created and sized');
  t.is(a.bytes.length, BUS_SIZE);
  t.is(a.bytes.buffer, b.bytes.buffer, 'one mapping, whatever the path spelling');
  t.is(b.path, join(dir, 'alias'));
  a.bytes[4000] = 0x5a;
  t.is(b.bytes[4000], 0x5a);
});

test('cas32 and store32 act on the shared word, unsigned, in native byte order', (t) => {
  const dir = tempDir(t);
  const a = createNodeHost().mapBus(join(dir, 'bus'), BUS_SIZE);
  const b = createNodeHost().mapBus(join(dir, 'bus'), BUS_SIZE);
  t.teardown(() => {
    a.close();
    b.close();
  });
  t.is(a.cas32(24, 0, 1), 0, 'lock taken');
  t.is(b.cas32(24, 0, 1), 1, 'held: the second taker fails and sees 1');
  b.store32(24, 0);
  t.is(u32(a, 24), 0, 'released');
  t.is(a.cas32(0, 0, 0xca11d054), 0);
  t.is(b.cas32(0, 0xca11d054, 0xca11d054), 0xca11d054);
  t.deepEqual([...a.bytes.subarray(0, 4)], nativeBytes(0xca11d054));
  t.throws(() => a.cas32(6, 0, 1), { instanceOf: RangeError });
  t.throws(() => a.store32(BUS_SIZE - 2, 1), { instanceOf: RangeError });
  t.throws(() => a.cas32(-4, 0, 1), { instanceOf: RangeError });
});

test('an existing bus file keeps its bytes and is resized to the bus size', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'old');
  writeFileSync(path, Buffer.concat([Buffer.from(nativeBytes(0xca11d054)), Buffer.alloc(BUS_SIZE + 100)]));
  const m = createNodeHost().mapBus(path, BUS_SIZE);
  t.teardown(() => m.close());
  t.is(statSync(path).size, BUS_SIZE);
  t.is(u32(m, 0), 0xca11d054);
});

test('a wake-up runs the other mappings watchers (deferred, coalesced) and writes 3 at offset 4', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'bus');
  const writerHost = createNodeHost();
  const writer = writerHost.mapBus(path, BUS_SIZE);
  const reader = createNodeHost().mapBus(path, BUS_SIZE);
  t.teardown(() => {
    writer.close();
    reader.close();
  });
  let runs = 0;
  const woken = new Promise<void>((resolve) =>
    reader.watch(() => {
      runs++;
      resolve();
    }),
  );
  writer.wakeup();
  writer.wakeup();
  t.is(runs, 0, 'never re-entrant');
  await woken;
  t.is(runs, 1, 'two wake-ups in one tick wake a reader once');
  // The file write goes once per turn of the event loop, before the next
  // turn's timers (a timer due in 1 ms fires in a later turn).
  await new Promise<void>((resolve) => writerHost.armTimer(writerHost.now() + 1, resolve));
  const fd = openSync(path, 'r');
  const word = Buffer.alloc(4);
  readSync(fd, word, 0, 4, 4);
  closeSync(fd);
  t.deepEqual([...word], nativeBytes(3));
});

test('closing the last mapping unmaps; earlier closes leave the bus to the others', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'bus');
  const a = createNodeHost().mapBus(path, BUS_SIZE);
  const b = createNodeHost().mapBus(path, BUS_SIZE);
  a.close();
  a.close();
  t.throws(() => a.cas32(0, 0, 1), { instanceOf: RangeError }, 'a closed mapping refuses atomics');
  t.is(b.cas32(0, 0, 1), 0, 'the other mapping still works');
  t.is(b.bytes.length, BUS_SIZE);
  b.close();
  t.is(b.bytes.length, 0, 'unmapped: the views are detached, nothing can touch freed memory');
  t.throws(() => b.store32(0, 1), { instanceOf: RangeError });
  const c = createNodeHost().mapBus(path, BUS_SIZE);
  t.is(c.cas32(0, 0, 0), 1, 'the bytes live on in the file');
  c.close();
});

test('mapping a directory fails with EISDIR naming the path', (t) => {
  const dir = tempDir(t);
  const sub = join(dir, 'adir');
  mkdirSync(sub);
  const err = t.throws(() => createNodeHost().mapBus(sub, BUS_SIZE)) as NodeJS.ErrnoException;
  t.is(err.code, 'EISDIR');
  t.true(err.message.includes(sub));
});

test('mapping under a missing directory fails with ENOENT', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'missing', 'bus');
  const err = t.throws(() => createNodeHost().mapBus(path, BUS_SIZE)) as NodeJS.ErrnoException;
  t.is(err.code, 'ENOENT');
  t.true(err.message.includes(path));
});

test('a bus mapped with one size cannot be mapped with another in the same process', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'bus');
  const m = createNodeHost().mapBus(path, BUS_SIZE);
  t.teardown(() => m.close());
  const err = t.throws(() => createNodeHost().mapBus(path, 4096)) as NodeJS.ErrnoException;
  t.is(err.code, 'EINVAL');
  t.is(statSync(path).size, BUS_SIZE, 'the live file was not resized');
});

test('another process sees our stores, and its wake-up write fires our watch', async (t) => {
  t.timeout(60_000);
  const dir = tempDir(t);
  const path = join(dir, 'bus');
  const m = createNodeHost().mapBus(path, BUS_SIZE);
  t.teardown(() => m.close());
  m.store32(64, 0xdeadbeef);
  const woken = new Promise<void>((resolve) => m.watch(resolve));
  const child = runChild(
    `
    const { createNodeHost } = await import(process.argv[1]);
    const host = createNodeHost();
    const bus = host.mapBus(process.argv[2], ${BUS_SIZE});
    console.log(new Uint32Array(bus.bytes.buffer)[16].toString(16));
    bus.store32(68, 0x1234);
    bus.wakeup();
    bus.close(); // the pending wake-up write goes before the file is closed
    `,
    [path],
  );
  const [result] = await Promise.all([child, woken]);
  t.is(result.stderr, '');
  t.is(result.code, 0);
  t.is(result.stdout.trim(), 'deadbeef');
  t.is(u32(m, 68), 0x1234);
  t.deepEqual([...m.bytes.subarray(4, 8)], nativeBytes(3), 'the wake-up write lands in the shared pages');
});

test('kernel timers and bus watches alone do not keep a process alive', async (t) => {
  t.timeout(30_000);
  const dir = tempDir(t);
  const result = await runChild(
    `
    const { createNodeHost } = await import(process.argv[1]);
    const host = createNodeHost();
    host.armTimer(host.now() + 3_600_000, () => console.log('fired'));
    host.mapBus(process.argv[2], 4096).watch(() => console.log('woken'));
    `,
    [join(dir, 'bus')],
  );
  t.is(result.code, 0);
  t.is(result.stdout, '');
});

test('hold() keeps the process alive until released', async (t) => {
  t.timeout(30_000);
  const result = await runChild(
    `
    const { createNodeHost } = await import(process.argv[1]);
    const host = createNodeHost();
    const release = host.hold();
    host.armTimer(host.now() + 20, () => {
      console.log('fired');
      release();
      release();
    });
    `,
    [],
  );
  t.is(result.code, 0);
  t.is(result.stdout, 'fired\n');
});
