/*
 * Benchmarks (benny), each beside a baseline measured in the same run so the
 * ratio survives a noisy machine:
 *
 *   udp:  datagrams per second, kernel A → kernel B over a shmif bus in one
 *         process (real mmap'd bus file), vs Node's dgram over 127.0.0.1
 *   ping: ICMP echo round trips per second A ⇄ B over the bus (raw socket),
 *         vs a UDP request/response round trip with Node's dgram on 127.0.0.1
 *
 * Results: bench/results/<suite>.json (benny) and bench/results/summary.json
 * with the ratios. Run: npm run bench
 */
import b from 'benny';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AF_INET, SOCK_DGRAM, SOCK_RAW } from '../index.js';
import { resultsDir, shmifKernels } from './common.js';

const BATCH = 64;
const PAYLOAD = new Uint8Array(64);

function nodeUdpPair(): Promise<{ a: dgram.Socket; b: dgram.Socket; port: number; close(): void }> {
  return new Promise((resolve) => {
    const a = dgram.createSocket('udp4');
    const bsock = dgram.createSocket('udp4');
    bsock.bind(0, '127.0.0.1', () => {
      a.bind(0, '127.0.0.1', () => {
        resolve({ a, b: bsock, port: (bsock.address()).port, close: () => { a.close(); bsock.close(); } });
      });
    });
  });
}

interface Row { name: string; ops: number }

function opsOf(summary: { results: Array<{ name: string; ops: number }> }): Row[] {
  return summary.results.map((r) => ({ name: r.name, ops: r.ops }));
}

async function main(): Promise<void> {
  const [ka, kb] = await shmifKernels();
  const sa = await ka.sys.socket(AF_INET, SOCK_DGRAM, 0);
  const sb = await kb.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await kb.sys.bind(sb, { family: AF_INET, addr: '192.0.2.2', port: 9 });
  await ka.sys.connect(sa, { family: AF_INET, addr: '192.0.2.2', port: 9 });
  // Prime ARP.
  await ka.sys.send(sa, PAYLOAD);
  await kb.sys.recv(sb, 2048);

  const node = await nodeUdpPair();
  const nodeQueue: Array<() => void> = [];
  let nodeGot = 0;
  node.b.on('message', () => {
    nodeGot++;
    nodeQueue.shift()?.();
  });

  const udp = await b.suite(
    'udp datagrams (batch of 64 per op)',
    b.add('rumpnet: kernel to kernel over a shmif bus', async () => {
      for (let i = 0; i < BATCH; i++) await ka.sys.send(sa, PAYLOAD);
      for (let i = 0; i < BATCH; i++) await kb.sys.recv(sb, 2048);
    }),
    b.add('node dgram over 127.0.0.1', async () => {
      const target = nodeGot + BATCH;
      const done = new Promise<void>((r) => {
        const check = (): void => (nodeGot >= target ? r() : void nodeQueue.push(check));
        check();
      });
      for (let i = 0; i < BATCH; i++) node.a.send(PAYLOAD, node.port, '127.0.0.1');
      await done;
    }),
    b.cycle(),
    b.complete(),
    b.save({ file: 'udp', folder: resultsDir, format: 'json' }),
  );

  // Baseline round trip: B answers every datagram back to A.
  const echo2 = await nodeUdpPair();
  const echoWaiters: Array<() => void> = [];
  echo2.b.on('message', (msg, rinfo) => echo2.b.send(msg, rinfo.port, rinfo.address));
  echo2.a.on('message', () => echoWaiters.shift()?.());

  // Ping: raw ICMP echo from A to B.
  const icmp = await ka.sys.socket(AF_INET, SOCK_RAW, 1);
  const echo = new Uint8Array(64);
  echo[0] = 8;
  let seq = 0;
  const cksum = (p: Uint8Array): number => {
    let s = 0;
    for (let i = 0; i < p.length; i += 2) s += (p[i]! << 8) | (p[i + 1] ?? 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return ~s & 0xffff;
  };
  const rtt = await b.suite(
    'round trips',
    b.add('rumpnet: ICMP echo over a shmif bus', async () => {
      seq = (seq + 1) & 0xffff;
      echo[2] = 0; echo[3] = 0; echo[4] = 0x12; echo[5] = 0x34; echo[6] = seq >> 8; echo[7] = seq & 0xff;
      const c = cksum(echo);
      echo[2] = c >> 8; echo[3] = c & 0xff;
      await ka.sys.sendto(icmp, echo, 0, { family: AF_INET, addr: '192.0.2.2', port: 0 });
      for (;;) {
        const { data } = await ka.sys.recvfrom(icmp, 2048);
        const hl = (data[0]! & 0xf) * 4;
        // Any echo reply of ours: benny calls the case once more, unawaited, to look
        // for a setup function, so two round trips can be in flight at once.
        if (data[hl] === 0 && data[hl + 4] === 0x12 && data[hl + 5] === 0x34) break;
      }
    }),
    b.add('node dgram request/response over 127.0.0.1', async () => {
      const done = new Promise<void>((r) => echoWaiters.push(r));
      echo2.a.send(PAYLOAD, echo2.port, '127.0.0.1');
      await done;
    }),
    b.cycle(),
    b.complete(),
    b.save({ file: 'rtt', folder: resultsDir, format: 'json' }),
  );

  const u = opsOf(udp);
  const r = opsOf(rtt);
  const summary = {
    date: new Date().toISOString(),
    machine: `${process.platform} ${process.arch}, node ${process.version}`,
    udp_datagrams_per_second: { rumpnet_shmif: u[0]!.ops * BATCH, node_dgram_loopback: u[1]!.ops * BATCH, ratio: u[0]!.ops / u[1]!.ops },
    round_trips_per_second: { rumpnet_ping_shmif: r[0]!.ops, node_dgram_loopback: r[1]!.ops, ratio: r[0]!.ops / r[1]!.ops },
  };
  writeFileSync(join(resultsDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(JSON.stringify(summary, null, 2));
  node.close();
  echo2.close();
  await ka.halt();
  await kb.halt();
}

main().then(() => process.exit(0), (e: unknown) => {
  console.error(e);
  process.exit(1);
});
