/*
 * Bulk data between two kernels arrives byte-identical: 1 KiB to 16 MiB,
 * one way and both ways at once, with default and large buffers (window
 * scaling), checked with SHA-256 of what was written against what was read.
 * Then everything closes and nothing is left.
 *
 *     kernel A  hub0 10.0.0.1/24 ═══ hub "lan" ═══ hub0 10.0.0.2/24  kernel B
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import type { Kernel } from '../../kern/kernel.js';
import { SHUT_WR } from '../../kern/sys.js';
import { SOL_SOCKET, SO_RCVBUF } from '../../net/socket.js';
import { inet } from '../../net/inet/inet.js';
import { pair, until } from './pair.js';
import { pattern } from '../helpers/kernels.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Deterministic, incompressible-looking data (xorshift32). */

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Write `data` in chunks of random-ish sizes, then shut down the sending side. */
async function sendAll(k: Kernel, fd: number, data: Uint8Array): Promise<void> {
  let off = 0;
  let step = 1;
  while (off < data.length) {
    step = (step * 7 + 13) % 65536 + 1;
    off += await k.sys.write(fd, data.subarray(off, Math.min(data.length, off + step)));
  }
  await k.sys.shutdown(fd, SHUT_WR);
}

/** Read to end of file; returns the SHA-256 and length. */
async function recvAll(k: Kernel, fd: number): Promise<{ hash: string; len: number }> {
  const h = createHash('sha256');
  let len = 0;
  for (;;) {
    const d = await k.sys.read(fd, 50_000);
    if (d.length === 0) break;
    h.update(d);
    len += d.length;
  }
  return { hash: h.digest('hex'), len };
}

for (const [size, buf] of [[KiB, 0], [64 * KiB, 0], [MiB, 0], [MiB, 1 * MiB], [16 * MiB, 512 * KiB]] as const) {
  test(`${size / KiB} KiB A→B and ${size / 2 / KiB} KiB B→A at once arrive intact${buf ? ` (buffers ${buf / KiB} KiB, window scaling)` : ''}`, async (t) => {
    const n = await pair(size + buf, { 'kern.ipc.maxsockbuf': 4 * MiB });
    if (buf) {
      for (const k of [n.a, n.b]) await k.sys.sysctlSet('net.inet.tcp.recvspace', buf);
      for (const k of [n.a, n.b]) await k.sys.sysctlSet('net.inet.tcp.sendspace', buf);
    }
    const { cfd, sfd } = await n.connected();
    if (buf) t.true((await n.a.sys.getsockopt(cfd, SOL_SOCKET, SO_RCVBUF)) as number >= buf);
    const ab = pattern(size, 1);
    const ba = pattern(size / 2, 2);
    const work = Promise.all([sendAll(n.a, cfd, ab), sendAll(n.b, sfd, ba), recvAll(n.b, sfd), recvAll(n.a, cfd)]);
    const [, , atB, atA] = await until(n, work, 60 * 60_000);
    t.deepEqual(atB, { hash: sha(ab), len: size });
    t.deepEqual(atA, { hash: sha(ba), len: size / 2 });
    const st = inet(n.a).tcpstat;
    t.is(st.sndrexmitpack, 0, 'a lossless hub needs no retransmission');
    t.log(`virtual time ${n.sim.now().toFixed(0)} ms, A sent ${st.sndpack} segments`);
    await n.closeAllAndCheck(t);
  });
}
