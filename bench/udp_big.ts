/*
 * The largest UDP datagrams, 65,507 bytes, one at a time (send, then wait
 * for the receiver's 'message' / recv), each beside the baseline measured
 * in the same run, so the ratio survives a noisy machine:
 *
 *   kernel.dgram, kernel A → kernel B over a shmif bus (45 fragments a datagram)
 *   kernel.dgram, one kernel to itself over lo0 (MTU 33,624: 2 fragments)
 *   sys (the BSD face), A → B over the same bus, for the face's own cost
 *   baseline: Node's dgram over the host's 127.0.0.1 (MTU 65,536: no fragments)
 *
 * Same work on both sides: the same bytes, one datagram in flight, the
 * receiver's event awaited. Run: node --import=tsx bench/udp_big.ts
 * Results: bench/results/udp_big.json (benny), udp_big_summary.json (ratios).
 */
import b from 'benny';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rumpInit, AF_INET, SOCK_DGRAM, SOL_SOCKET, SO_RCVBUF, SO_SNDBUF } from '../index.js';
import { resultsDir, shmifKernels } from './common.js';

const SIZE = 65507;
const DATA = new Uint8Array(SIZE).map((_v, i) => i & 0xff);

/** What the bench uses of a dgram socket: node:dgram's and kernel.dgram's both fit. */
interface DSock {
  bind(port: number, address: string, cb: () => void): unknown;
  address(): { port: number };
  on(event: 'message', fn: (m: Buffer) => void): unknown;
  send(msg: Uint8Array, port: number, address: string): void;
  close(): unknown;
}

/**
 * A receiver made by `rxMod` and a sender made by `txMod` (two kernels, or
 * the same one), and a function that sends one datagram and waits for it.
 */
async function pair(
  rxMod: { createSocket(t: 'udp4'): DSock }, txMod: { createSocket(t: 'udp4'): DSock }, to: string, from: string,
): Promise<{ one(): Promise<void>; close(): void }> {
  const rx = rxMod.createSocket('udp4');
  const tx = txMod.createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, to, () => r()));
  await new Promise<void>((r) => tx.bind(0, from, () => r()));
  const port = rx.address().port;
  let waiter: (() => void) | null = null;
  rx.on('message', (m: Buffer) => {
    if (m.length !== SIZE) throw new Error(`got ${m.length} bytes`);
    const w = waiter;
    waiter = null;
    w?.();
  });
  const one = (): Promise<void> => new Promise<void>((r) => {
    waiter = r;
    tx.send(DATA, port, to);
  });
  await one(); // ARP, and the first datagram out of the way
  return { one, close: () => { rx.close(); tx.close(); } };
}

async function main(): Promise<void> {
  const [ka, kb] = await shmifKernels();
  const bus = await pair(kb.dgram, ka.dgram, '192.0.2.2', '192.0.2.1');
  const klo = await rumpInit({ components: ['net', 'net_net', 'net_netinet'] });
  const lo = await pair(klo.dgram, klo.dgram, '127.0.0.1', '127.0.0.1');
  const host = await pair(dgram, dgram, '127.0.0.1', '127.0.0.1');

  // The BSD face over the same bus, buffers raised as kernel.dgram raises them.
  const sa = await ka.sys.socket(AF_INET, SOCK_DGRAM, 0);
  const sb = await kb.sys.socket(AF_INET, SOCK_DGRAM, 0);
  for (const [k, fd] of [[ka, sa], [kb, sb]] as const) {
    await k.sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, 212992);
    await k.sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 212992);
  }
  await kb.sys.bind(sb, { family: AF_INET, addr: '192.0.2.2', port: 9 });
  await ka.sys.connect(sa, { family: AF_INET, addr: '192.0.2.2', port: 9 });
  const sysOne = async (): Promise<void> => {
    await ka.sys.send(sa, DATA);
    const r = await kb.sys.recv(sb, 70000);
    if (r.length !== SIZE) throw new Error(`got ${r.length} bytes`);
  };
  await sysOne();

  const suite = await b.suite(
    '65,507-byte UDP datagrams, one in flight',
    b.add('node dgram over 127.0.0.1 (baseline)', () => host.one()),
    b.add('kernel.dgram, kernel to kernel over a shmif bus', () => bus.one()),
    b.add('sys, kernel to kernel over a shmif bus', () => sysOne()),
    b.add('kernel.dgram, one kernel over lo0', () => lo.one()),
    b.cycle(),
    b.complete(),
    b.save({ file: 'udp_big', folder: resultsDir, format: 'json' }),
  );
  const ops = suite.results.map((r) => ({ name: r.name, ops: r.ops }));
  const base = ops[0]!.ops;
  const summary = Object.fromEntries(ops.map((r) => [r.name, {
    datagrams_per_second: r.ops, mbit_per_second: (r.ops * SIZE * 8) / 1e6, ratio_to_node: r.ops / base,
  }]));
  writeFileSync(join(resultsDir, 'udp_big_summary.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(JSON.stringify(summary, null, 2));
  host.close();
  lo.close();
  bus.close();
  for (const k of [ka, kb, klo]) await k.halt();
}

await main();
