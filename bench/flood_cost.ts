/*
 * What one SYN costs the kernel, from virt's input to its SYN-ACK written
 * on the TAP (issue 13 item 2): spoofed SYNs (bench/flood_frames.ts) handed
 * to virt0's receive path in batches as the TAP reader hands them, with
 * nothing else running, in a network namespace made for the run.
 *
 *   namespace rumpnet-bench-<pid>-cost
 *   ┌─────────────────────────────────────────────────────────────────┐
 *   │ Linux: tun0 10.199.0.1/24 (takes the SYN-ACKs in, drops them)   │
 *   │   ══ TAP ══ virt0 10.199.0.2/24 rump kernel, :5003 listening    │
 *   │   SYNs from 172.16/12 put in virt0's receive batches directly   │
 *   └─────────────────────────────────────────────────────────────────┘
 *
 * Rows: the SYN cache filling (each SYN a new entry), then cookies (cache
 * full: a cookie SYN-ACK per SYN, nothing stored), then the same SYNs with
 * the listener's port closed (an RST each): the same frames in and one
 * segment out per SYN, the baseline of the kernel's path without the SYN
 * handling. µs per SYN, SYN/s a core could take, and heap per SYN.
 *
 *   node --import=tsx bench/flood_cost.ts            (root; COST_SYNS, COST_BATCH)
 *   COST_PROF=dir ...                                a --cpu-prof profile of the run
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { TapBatch } from '../hypercall/types.js';
import { SpoofedSyns, SYN_FRAME_LEN } from './flood_frames.js';

const ROLE_ENV = 'FLOOD_COST_ROLE';
const RUMP = '10.199.0.2';
const PORT = 5003;

interface Row {
  what: string;
  syns: number;
  usPerSyn: number;
  synPerSec: number;
  heapPerSyn: number;
}

async function kernelRole(): Promise<void> {
  const { rumpInit } = await import('../index.js');
  const { inet } = await import('../net/inet/inet.js');
  const { netstack } = await import('../net/netstack.js');
  const { virtSoftc } = await import('../net/if/virt.js');
  const total = Number(process.env['COST_SYNS'] ?? 200_000);
  const per = Number(process.env['COST_BATCH'] ?? 256);
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_virtif'], env: {} });
  await k.netconfig.ifcreate('virt0');
  await k.netconfig.ipv4IfaddrCidr('virt0', RUMP, 24);
  await k.sys.ext('rtmsg', { type: 'add', dst: 'default', gateway: '10.199.0.1' });
  // Linux's side up, as in the flood: each SYN-ACK written is a frame its stack takes in (and drops: it does not forward).
  execFileSync('ip', ['addr', 'add', '10.199.0.1/24', 'dev', 'tun0']);
  execFileSync('ip', ['link', 'set', 'tun0', 'up']);
  const server = k.net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(PORT, RUMP, 1024, r));
  const ifp = netstack(k).ifs.get('virt0')!;
  const sc = virtSoftc(ifp)!;
  const i = inet(k);
  // The frames as the TAP reader packs them: virtio-net header (all zero) then the frame.
  const hl = sc.vnetHdrLen;
  const syns = new SpoofedSyns(ifp.lladdr!, Uint8Array.from([0x02, 0, 0x5e, 0x10, 0x20, 0x30]), 0x0ac70002, PORT);
  const stride = hl + SYN_FRAME_LEN;
  const batch: TapBatch = { bytes: new Uint8Array(per * stride), lengths: new Uint32Array(per).fill(stride), count: per };
  const input = (sc as unknown as { input(b: TapBatch): void }).input.bind(sc);
  let n = 0;
  const run = (what: string, count: number): Row => {
    (globalThis as { gc?: () => void }).gc?.();
    const h0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    for (let done = 0; done < count; done += per) {
      for (let j = 0; j < per; j++) batch.bytes.set(syns.make(n++), j * stride + hl);
      input(batch);
    }
    const us = ((performance.now() - t0) * 1000) / count;
    const h1 = process.memoryUsage().heapUsed;
    return { what, syns: count, usPerSyn: us, synPerSec: Math.round(1e6 / us), heapPerSyn: (h1 - h0) / count };
  };
  const rows: Row[] = [];
  // Warm up with cookies (cache limit 0 is not allowed: 1), then fill a fresh cache, then cookies.
  const cfg = i.tcp!.cfg;
  const limit = cfg.syncacheLimit;
  cfg.syncookiesOnly = 1;
  // The first batches with event-loop turns between them: ARP for the gateway resolves (the reply is read).
  for (let w = 0; w < 20; w++) {
    run('warm-up', per);
    await new Promise((r) => setTimeout(r, 5));
  }
  const arpDrops = i.arpstat.dfrdropped;
  run('warm-up', Math.min(total, 50_000));
  cfg.syncookiesOnly = 0;
  rows.push(run('SYN cache (new entry each)', Math.min(limit, total) - (Math.min(limit, total) % per)));
  rows.push(run('cookies (cache full)', total));
  server.close();
  await new Promise((r) => setImmediate(r));
  rows.push(run('RST (no listener: baseline)', total));
  if (i.arpstat.dfrdropped !== arpDrops) throw new Error('SYN-ACKs waited for ARP: the figures would not include sending them');
  process.stdout.write(`${JSON.stringify(rows)}\n`);
  await k.halt();
  process.exit(0);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('bench/flood_cost.ts needs root (a network namespace and a TAP device)');
    process.exit(1);
  }
  const ns = `rumpnet-bench-${process.pid}-cost`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const prof = process.env['COST_PROF'];
    const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, '--expose-gc', ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []),
      '--import=tsx', fileURLToPath(import.meta.url)], { env: { ...process.env, [ROLE_ENV]: 'kernel' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const rows = JSON.parse(out.trim().split('\n').pop()!) as Row[];
    const base = rows[rows.length - 1]!;
    for (const r of rows) {
      process.stdout.write(`${r.what.padEnd(28)} ${r.usPerSyn.toFixed(2).padStart(7)} µs/SYN  ${String(r.synPerSec).padStart(7)} SYN/s  ` +
        `${(r.usPerSyn / base.usPerSyn).toFixed(2)}× the RST path  heap ${r.heapPerSyn.toFixed(0)} B/SYN\n`);
    }
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
}

if (process.env[ROLE_ENV] === 'kernel') await kernelRole();
else if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
