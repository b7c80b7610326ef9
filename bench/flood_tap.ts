/*
 * The SYN flood from Linux over a TAP device (issue 13 item 2), in real
 * time, inside a network namespace made for the run and removed after it:
 *
 *   namespace rumpnet-bench-<pid>-flood (or the test's own)
 *   ┌────────────────────────────────────────────────────────────────────────┐
 *   │ Linux: tun0 10.199.0.1/24 ════ TAP ════ virt0 10.199.0.2/24 rump kernel │
 *   │   flood_linux.py flood: spoofed SYNs     (a process of its own: this   │
 *   │     on tun0 through AF_PACKET            file, FLOOD_TAP_ROLE=kernel), │
 *   │   flood_linux.py clients: real clients   :5003 answers "hi" and ends   │
 *   │     through Linux's TCP                  through kernel.net            │
 *   └────────────────────────────────────────────────────────────────────────┘
 *
 * The spoofed sources are in 172.16.0.0/12, behind Linux as far as the rump
 * kernel knows (default route via 10.199.0.1); Linux does not forward, so
 * the SYN-ACKs die there. The same clients run without the flood first (the
 * baseline, same run), then under it (they start once the flood is sending,
 * and start for as long as it runs), then after it; each row has what the
 * kernel saw (SYN cache, cookies, SYNs handled, frames virt0 dropped or
 * could not send), its JS heap and accounted memory before and after, and
 * its resident set (peak sampled every 250 ms).
 *
 * A client is served when it connects with Linux's own TCP (its SYN
 * retried at 1 s and 3 s, as Linux does) and reads "hi" and the end within
 * the deadline (3 s) of starting; p50 and p99 are how long served ones took.
 *
 *   node --import=tsx bench/flood_tap.ts            (root; FLOOD_RATE, FLOOD_SECONDS)
 *   FLOOD_PROF=dir ...                               a --cpu-prof profile of the kernel's process
 *
 * Results: bench/results/flood-tap.json. test/interop/flood.test.ts runs
 * the same (tapFlood) shorter and asserts on it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROLE_ENV = 'FLOOD_TAP_ROLE';
const LINUX = '10.199.0.1';
const RUMP = '10.199.0.2';
const PORT = 5003;
const here = fileURLToPath(new URL('.', import.meta.url));

export interface TapFloodOptions {
  rate: number;
  seconds: number;
  clientEveryMs: number;
  deadlineMs: number;
  /** tun0's tx_queue_len: frames Linux queues for the kernel to read. */
  tapQueue: number;
}

/** What the kernel reports on "stats". */
interface KernelStats {
  scAdded: number;
  cookiesSent: number;
  cookiesTaken: number;
  dupes: number;
  cache: number;
  cacheLimit: number;
  virtDrops: number;
  /** SYN-ACKs and other frames the TAP did not take (its writer's queue full, or refused). */
  txRefused: number;
  /** Bare SYNs virt0's TAP reader dropped over its per-wake-up budget. */
  synShed: number;
  mem: number;
  heap: number;
  rss: number;
}

export interface TapFloodRow {
  flood: boolean;
  clients: number;
  served: number;
  p50: number | null;
  p99: number | null;
  synsSent: number;
  synRate: number;
  /** SYNs the listener answered (cache, cookie, duplicate) a second, over the flood's duration; not counting those the TAP reader shed. */
  synsHandledPerSec: number;
  cookiesSent: number;
  cookiesTaken: number;
  cacheAtEnd: number;
  cacheLimit: number;
  virtDrops: number;
  /** Frames Linux dropped on tun0's queue to the kernel (the kernel read too slowly): `ip -s link` TX dropped. */
  tapDrops: number;
  /** Frames virt0 could not send (the TAP writer's queue was full, or Linux refused them). */
  txRefused: number;
  /** Bare SYNs virt0's TAP reader read and dropped over its per-wake-up budget (not in virtDrops). */
  synShed: number;
  memBefore: number;
  memAfter: number;
  heapBefore: number;
  heapAfter: number;
  /** The kernel process's resident set before and after, and its highest sample during the row (every 250 ms). */
  rssBefore: number;
  rssAfter: number;
  rssPeak: number;
}

/* ------------------------------------------------------------------------ */
/* The rump kernel's process, inside the namespace. */

async function kernelRole(): Promise<void> {
  const { rumpInit } = await import('../index.js');
  const { inet } = await import('../net/inet/inet.js');
  const { netstack } = await import('../net/netstack.js');
  const { virtSoftc } = await import('../net/if/virt.js');
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_virtif'], env: {} });
  await k.netconfig.ifcreate('virt0');
  await k.netconfig.ipv4IfaddrCidr('virt0', RUMP, 24);
  await k.sys.ext('rtmsg', { type: 'add', dst: 'default', gateway: LINUX });
  const server = k.net.createServer((s) => {
    s.on('error', () => {}); // a client that gave up resets: nothing to do
    s.end('hi');
  });
  await new Promise<void>((r) => server.listen(PORT, RUMP, 1024, r));
  const ifp = netstack(k).ifs.get('virt0')!;
  const mac = [...ifp.lladdr!].map((x) => x.toString(16).padStart(2, '0')).join(':');
  process.stdout.write(`ready ${mac}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'stats') {
      (globalThis as { gc?: () => void }).gc?.();
      const i = inet(k);
      const st = i.tcpstat;
      const s: KernelStats = {
        scAdded: st.sc_added, cookiesSent: st.sc_sendcookie, cookiesTaken: st.sc_recvcookie, dupes: st.sc_dupesyn,
        cache: i.tcp!.syncache.size, cacheLimit: i.tcp!.cfg.syncacheLimit,
        virtDrops: ifp.stats.iqdrops - virtSoftc(ifp)!.stats.rxsynshed + ifp.stats.ierrors,
        txRefused: virtSoftc(ifp)!.stats.txrefused, synShed: virtSoftc(ifp)!.stats.rxsynshed, mem: k.mem.used, heap: process.memoryUsage().heapUsed, rss: process.memoryUsage.rss(),
      };
      process.stdout.write(`${JSON.stringify(s)}\n`);
    } else if (line === 'rss') {
      process.stdout.write(`${process.memoryUsage.rss()}\n`);
    } else if (line === 'quit') break;
  }
  server.close();
  await k.halt();
  process.exit(0);
}

/* ------------------------------------------------------------------------ */
/* The driver: phases in namespace `ns`. */

function inNs(ns: string, cmd: string, args: readonly string[], env: Record<string, string> = {}) {
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
}

/** The last line a command in the namespace prints, parsed as JSON; `onGo` runs when it prints a line "go". */
function jsonOf<T>(ns: string, cmd: string, args: readonly string[], onGo?: () => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const c = inNs(ns, cmd, args);
    let out = '';
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (onGo !== undefined && /^go$/m.test(out)) {
        onGo();
        onGo = undefined;
      }
    });
    c.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${out}`));
      else resolve(JSON.parse(last) as T);
    });
  });
}

/** Run the baseline, the flood and the recovery in namespace `ns` (which has only `lo`); the rows in that order. */
export async function tapFlood(ns: string, o: TapFloodOptions): Promise<TapFloodRow[]> {
  const prof = process.env['FLOOD_PROF'];
  const profArgs = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
  const kernel = inNs(ns, process.execPath, ['--expose-gc', ...profArgs, '--import=tsx', fileURLToPath(import.meta.url)], { [ROLE_ENV]: 'kernel' });
  const lines = createInterface({ input: kernel.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => String((await lines.next()).value ?? '');
  try {
    const ready = await next();
    const m = /^ready (\S+)$/.exec(ready);
    if (m === null) throw new Error(`rump kernel: ${ready}`);
    const rumpMac = m[1]!;
    execFileSync('ip', ['-n', ns, 'addr', 'add', `${LINUX}/24`, 'dev', 'tun0']);
    // The TAP's queue towards the kernel (tun's ring, tx_queue_len frames; 1000 by default is 10 ms
    // of a 100,000/s flood): a NIC's receive ring, sized for a process that shares its cores.
    execFileSync('ip', ['-n', ns, 'link', 'set', 'tun0', 'txqueuelen', String(o.tapQueue), 'up']);
    const linuxMac = execFileSync('ip', ['-n', ns, '-br', 'link', 'show', 'tun0'], { encoding: 'utf8' }).split(/\s+/)[2]!;
    const tapDropped = (): number => {
      const j = JSON.parse(execFileSync('ip', ['-n', ns, '-j', '-s', 'link', 'show', 'tun0'], { encoding: 'utf8' })) as Array<{ stats64?: { tx?: { dropped?: number } } }>;
      return j[0]?.stats64?.tx?.dropped ?? 0;
    };
    const stats = async (): Promise<KernelStats> => {
      kernel.stdin.write('stats\n');
      return JSON.parse(await next()) as KernelStats;
    };
    const py = join(here, 'flood_linux.py');
    const rows: TapFloodRow[] = [];
    // The baseline, the flood, and the same clients once the flood has stopped (recovery).
    for (const flood of [false, true, false]) {
      const s0 = await stats();
      const d0 = tapDropped();
      // The flood first: the clients start once its frames are made and it is sending ("go"),
      // so every client connects while the flood runs (it runs as long as they start).
      let go: () => void = () => {};
      const started = new Promise<void>((r) => (go = r));
      const syns = flood
        ? jsonOf<{ sent: number; seconds: number }>(ns, 'python3', [py, 'flood', 'tun0', rumpMac, linuxMac, RUMP, String(PORT), String(o.rate), String(o.seconds)], go)
        : Promise.resolve({ sent: 0, seconds: 1 });
      if (flood) await started;
      const clients = jsonOf<{ clients: number; served: number; p50: number | null; p99: number | null }>(ns, 'python3', [
        py, 'clients', RUMP, String(PORT), String(o.seconds), String(o.clientEveryMs), String(o.deadlineMs),
      ]);
      // The kernel's resident set while the row runs.
      let rssPeak = s0.rss;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          await new Promise((r) => setTimeout(r, 250));
          kernel.stdin.write('rss\n');
          rssPeak = Math.max(rssPeak, Number(await next()));
        }
      })();
      const [c, f] = await Promise.all([clients, syns]);
      sampling = false;
      await sampler;
      const s1 = await stats();
      rows.push({
        flood, clients: c.clients, served: c.served, p50: c.p50, p99: c.p99,
        synsSent: f.sent, synRate: Math.round(f.sent / f.seconds),
        // Over the flood's own duration (under load it sends for longer than o.seconds).
        synsHandledPerSec: Math.round((s1.scAdded - s0.scAdded + s1.cookiesSent - s0.cookiesSent + s1.dupes - s0.dupes) / (flood ? f.seconds : o.seconds)),
        cookiesSent: s1.cookiesSent - s0.cookiesSent, cookiesTaken: s1.cookiesTaken - s0.cookiesTaken,
        cacheAtEnd: s1.cache, cacheLimit: s1.cacheLimit, virtDrops: s1.virtDrops - s0.virtDrops, tapDrops: tapDropped() - d0,
        txRefused: s1.txRefused - s0.txRefused, synShed: s1.synShed - s0.synShed,
        memBefore: s0.mem, memAfter: s1.mem, heapBefore: s0.heap, heapAfter: s1.heap, rssBefore: s0.rss, rssAfter: s1.rss, rssPeak,
      });
    }
    kernel.stdin.write('quit\n');
    // Let it exit on its own (a --cpu-prof profile is written at exit).
    await new Promise((r) => kernel.once('exit', r));
    return rows;
  } finally {
    kernel.kill('SIGKILL');
  }
}

/* ------------------------------------------------------------------------ */

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('bench/flood_tap.ts needs root (a network namespace and a TAP device)');
    process.exit(1);
  }
  const o: TapFloodOptions = {
    rate: Number(process.env['FLOOD_RATE'] ?? 100_000),
    seconds: Number(process.env['FLOOD_SECONDS'] ?? 5),
    clientEveryMs: 10,
    deadlineMs: 3000,
    tapQueue: Number(process.env['FLOOD_TAPQ'] ?? 16384),
  };
  const ns = `rumpnet-bench-${process.pid}-flood`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    const rows = await tapFlood(ns, o);
    for (const [i, r] of rows.entries()) {
      process.stdout.write(`${r.flood ? `flood ${r.synRate}/s` : i === 0 ? 'baseline' : 'after'}: served ${r.served}/${r.clients}, p50 ${r.p50?.toFixed(1)} ms, p99 ${r.p99?.toFixed(1)} ms; ` +
        `kernel: handled ${r.synsHandledPerSec} SYN/s, cache ${r.cacheAtEnd}/${r.cacheLimit}, cookies ${r.cookiesSent} sent ${r.cookiesTaken} taken, ` +
        `virt0 drops ${r.virtDrops}, SYNs shed ${r.synShed}, tun0 drops ${r.tapDrops}, not sent ${r.txRefused}, mem ${r.memBefore} -> ${r.memAfter}, ` +
        `heap ${(r.heapBefore / 1e6).toFixed(1)} -> ${(r.heapAfter / 1e6).toFixed(1)} MB, RSS ${(r.rssBefore / 1e6).toFixed(1)} -> ${(r.rssAfter / 1e6).toFixed(1)} MB (peak ${(r.rssPeak / 1e6).toFixed(1)})\n`);
    }
    const [base, fl] = rows as [TapFloodRow, TapFloodRow, TapFloodRow];
    const ratio = fl.served / fl.clients / (base.served / base.clients);
    process.stdout.write(`served under flood ${((100 * fl.served) / fl.clients).toFixed(1)} % vs ${((100 * base.served) / base.clients).toFixed(1)} % baseline (ratio ${ratio.toFixed(3)})\n`);
    writeFileSync(join(here, 'results', 'flood-tap.json'), `${JSON.stringify({ date: new Date().toISOString(), loadavg: loadavg(), ...o, rows, servedRatio: ratio }, null, 2)}\n`);
  } finally {
    try {
      for (const p of execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter((l) => /^\d+$/.test(l))) process.kill(Number(p), 'SIGKILL');
    } catch {
      // nothing left
    }
    execFileSync('ip', ['netns', 'del', ns]);
  }
}

if (process.env[ROLE_ENV] === 'kernel') await kernelRole();
else if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
