/*
 * Descriptor limits as NetBSD has them: RLIMIT_NOFILE per process
 * (getrlimit/setrlimit), kern.maxfiles for the whole kernel, EMFILE against
 * ENFILE, and POSIX's lowest-free-descriptor rule at any table size.
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import { createSimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import { Errno, EINVAL, EMFILE, ENFILE, EPERM } from '../../kern/errno.js';
import { Sys, AF_INET, SOCK_DGRAM, RLIMIT_NOFILE, RLIM_INFINITY, type Domain, type KFile } from '../../kern/sys.js';
import { SelInfo } from '../../kern/select.js';

const AF_TEST = 99;

/** A kernel whose AF_TEST sockets are bare files: cheap enough to open 100,000 of them. */
function kernelWithCheapFiles(env: Record<string, string> = {}) {
  const k = bootKernel({ components: [], host: createSimHost(), env });
  const d: Domain = {
    family: AF_TEST,
    name: 'test',
    socreate: () => ({ sel: new SelInfo(), fflags: 0, close: () => {} }) as unknown as KFile,
  };
  k.domains.set(AF_TEST, d);
  return k;
}

async function errnoOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof Errno) return e.errno;
    throw e;
  }
  return 0;
}

test('a server-sized default: kern.maxfiles is 1,048,576 without RUMP_MEMLIMIT and scales with it', async (t) => {
  const k = kernelWithCheapFiles();
  t.is(await k.sys.sysctl('kern.maxfiles'), 1 << 20);
  t.deepEqual(await k.sys.getrlimit(RLIMIT_NOFILE), { cur: 1 << 20, max: 1 << 20 });
  const small = kernelWithCheapFiles({ RUMP_MEMLIMIT: '16m' });
  t.is(await small.sys.sysctl('kern.maxfiles'), 8192);
  t.deepEqual(await small.sys.getrlimit(RLIMIT_NOFILE), { cur: 8192, max: 8192 });
  const tiny = kernelWithCheapFiles({ RUMP_MEMLIMIT: '64k' });
  t.is(await tiny.sys.sysctl('kern.maxfiles'), 1024);
});

test('an in-process server is not stopped at 1,024 descriptors', async (t) => {
  // The old fixed table gave out 3..1023: a kernel.net server stopped at 511 pairs.
  const k = bootKernel({ components: ['net', 'net_net', 'net_netinet'], host: createSimHost() });
  const fds: number[] = [];
  for (let i = 0; i < 1100; i++) fds.push(await k.sys.socket(AF_INET, SOCK_DGRAM));
  t.is(fds[fds.length - 1], 1102);
  await k.halt();
});

test('socket() takes the lowest free descriptor, also after closes in any order', async (t) => {
  const k = kernelWithCheapFiles();
  const fds: number[] = [];
  for (let i = 0; i < 10; i++) fds.push(await k.sys.socket(AF_TEST, 1));
  t.deepEqual(fds, [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  for (const fd of [9, 4, 7, 5]) await k.sys.close(fd);
  const again: number[] = [];
  for (let i = 0; i < 5; i++) again.push(await k.sys.socket(AF_TEST, 1));
  t.deepEqual(again, [4, 5, 7, 9, 13]);
});

test('the lowest-free rule holds against a model over 100,000 descriptors of random opens and closes', async (t) => {
  const k = kernelWithCheapFiles();
  const open = new Set<number>();
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 100_000; i++) open.add(await k.sys.socket(AF_TEST, 1));
  const list = [...open];
  let mismatches = 0;
  for (let round = 0; round < 20_000; round++) {
    if (rand(2) === 0 && list.length > 0) {
      const j = rand(list.length);
      const fd = list[j]!;
      list[j] = list[list.length - 1]!;
      list.pop();
      open.delete(fd);
      await k.sys.close(fd);
    } else {
      let want = 3;
      while (open.has(want)) want++;
      const fd = await k.sys.socket(AF_TEST, 1);
      if (fd !== want) mismatches++;
      open.add(fd);
      list.push(fd);
    }
  }
  t.is(mismatches, 0);
  t.is(k.nfiles, open.size);
  t.deepEqual(k.sys.openFds().sort((a, b) => a - b), [...open].sort((a, b) => a - b));
});

test('RLIMIT_NOFILE: EMFILE at the soft limit; raising it up to the hard limit gives more', async (t) => {
  const k = kernelWithCheapFiles();
  await k.sys.setrlimit(RLIMIT_NOFILE, { cur: 8, max: 10 });
  t.deepEqual(await k.sys.getrlimit(RLIMIT_NOFILE), { cur: 8, max: 10 });
  for (let i = 3; i < 8; i++) t.is(await k.sys.socket(AF_TEST, 1), i);
  const err = await t.throwsAsync(k.sys.socket(AF_TEST, 1));
  t.is((err as Errno).code, 'EMFILE');
  t.is((err as Errno).syscall, 'socket');
  await k.sys.close(5);
  t.is(await k.sys.socket(AF_TEST, 1), 5);
  t.is(await errnoOf(k.sys.socket(AF_TEST, 1)), EMFILE);
  await k.sys.setrlimit(RLIMIT_NOFILE, { cur: 10, max: 10 });
  t.is(await k.sys.socket(AF_TEST, 1), 8);
  t.is(await k.sys.socket(AF_TEST, 1), 9);
  t.is(await errnoOf(k.sys.socket(AF_TEST, 1)), EMFILE);
  // Lowering below what is open leaves those open; only new descriptors fail.
  await k.sys.setrlimit(RLIMIT_NOFILE, { cur: 4, max: 10 });
  t.is(k.sys.openFds().length, 7);
  await k.sys.close(9);
  t.is(await errnoOf(k.sys.socket(AF_TEST, 1)), EMFILE);
});

test('setrlimit: soft above hard and odd values are EINVAL; raising the hard limit needs privilege', async (t) => {
  const k = kernelWithCheapFiles();
  const s = k.sys;
  t.is(await errnoOf(s.setrlimit(RLIMIT_NOFILE, { cur: 20, max: 10 })), EINVAL);
  t.is(await errnoOf(s.setrlimit(RLIMIT_NOFILE, { cur: -1, max: 10 })), EINVAL);
  t.is(await errnoOf(s.setrlimit(RLIMIT_NOFILE, { cur: 1.5, max: 10 })), EINVAL);
  t.is(await errnoOf(s.setrlimit(RLIMIT_NOFILE, { cur: '5', max: 10 } as never)), EINVAL);
  t.is(await errnoOf(s.setrlimit(RLIMIT_NOFILE, null as never)), EINVAL);
  t.is(await errnoOf(s.setrlimit(0, { cur: 1, max: 1 })), EINVAL);
  t.is(await errnoOf(s.getrlimit(0)), EINVAL);
  // RLIM_INFINITY is clamped to kern.maxfiles, as NetBSD clamps it.
  await s.setrlimit(RLIMIT_NOFILE, { cur: RLIM_INFINITY, max: RLIM_INFINITY });
  t.deepEqual(await s.getrlimit(RLIMIT_NOFILE), { cur: 1 << 20, max: 1 << 20 });
  // An unprivileged process may lower its hard limit, never raise it again.
  const user = new Sys(k, k.allocPid(), 'user');
  user.privileged = false;
  await user.setrlimit(RLIMIT_NOFILE, { cur: 50, max: 100 });
  t.is(await errnoOf(user.setrlimit(RLIMIT_NOFILE, { cur: 50, max: 101 })), EPERM);
  await user.setrlimit(RLIMIT_NOFILE, { cur: 100, max: 100 });
  t.deepEqual(await user.getrlimit(RLIMIT_NOFILE), { cur: 100, max: 100 });
  // Root may raise it.
  await s.setrlimit(RLIMIT_NOFILE, { cur: 10, max: 10 });
  await s.setrlimit(RLIMIT_NOFILE, { cur: 10, max: 2000 });
  t.deepEqual(await s.getrlimit(RLIMIT_NOFILE), { cur: 10, max: 2000 });
});

test('kern.maxfiles bounds the whole kernel: ENFILE, not EMFILE, when the processes together hold it', async (t) => {
  const k = kernelWithCheapFiles();
  const other = new Sys(k, k.allocPid(), 'client');
  await k.sys.sysctlSet('kern.maxfiles', '6');
  t.is(await k.sys.sysctl('kern.maxfiles'), 6);
  for (let i = 0; i < 3; i++) await k.sys.socket(AF_TEST, 1);
  for (let i = 0; i < 3; i++) await other.socket(AF_TEST, 1);
  const err = await t.throwsAsync(k.sys.socket(AF_TEST, 1));
  t.is((err as Errno).errno, ENFILE);
  t.is((err as Errno).code, 'ENFILE');
  t.is(await errnoOf(other.socket(AF_TEST, 1)), ENFILE);
  // A closed file anywhere makes room everywhere.
  await other.close(4);
  t.is(await k.sys.socket(AF_TEST, 1), 6);
  // A process exiting hands its files back.
  await other.closeAll();
  t.is(k.nfiles, 4);
  t.is(await errnoOf(k.sys.sysctlSet('kern.maxfiles', 0)), EINVAL);
  t.is(await errnoOf(k.sys.sysctlSet('kern.maxfiles', 'lots')), EINVAL);
  // New processes start at the kernel's maxfiles of the moment.
  await k.sys.sysctlSet('kern.maxfiles', 5000);
  t.deepEqual(await new Sys(k, k.allocPid(), 'later').getrlimit(RLIMIT_NOFILE), { cur: 5000, max: 5000 });
});
