/*
 * Interop helpers: a private network namespace per test, commands run in
 * it, rumpnet's tools run from source, and a capture that can be stopped.
 *
 * Every namespace is `rumpnet-test-<pid>-<n>` (unique per process and test,
 * no randomness needed), has only `lo` and the TAP device its test makes,
 * IPv6 off (so Linux sends no router solicitations or MLD reports into the
 * captures), and is deleted at teardown with everything still running in it.
 * Addresses are 10.199.0.0/24, inside the namespace only: no frame leaves it.
 *
 * These tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN for `ip netns`).
 * CI runs as root, so there they run; elsewhere each test says why it skips.
 */
import type { ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** tsx by its full URL: children run from scratch directories and other namespaces. */
export const TSX = import.meta.resolve('tsx');

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Why interop tests cannot run here (not root), or null when they can and
 * must. A missing tool is not a reason to skip: `requireTools` fails the
 * test as root, since CI (root) installs them in .ci/run.
 */
export function interopUnavailable(): string | null {
  if (process.getuid?.() !== 0) {
    return 'not root: interop tests need network namespaces and TAP devices (CAP_SYS_ADMIN, CAP_NET_ADMIN); CI runs them as root';
  }
  return null;
}

const TOOLS = [['ip', 'iproute2'], ['ping', 'iputils-ping'], ['tcpdump', 'tcpdump'], ['tshark', 'tshark'], ['setpriv', 'util-linux'], ['timeout', 'coreutils']] as const;

/**
 * The host tools the interop tests use that are missing, as `apt-get install`
 * names; `extra` adds what one test file needs beyond the common ones
 * (tcp.test.ts: socat, curl, python3), as [command, package] pairs.
 */
export function missingTools(extra: ReadonlyArray<readonly [string, string]> = []): string[] {
  return [...TOOLS, ...extra].filter(([cmd]) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0).map(([, pkg]) => pkg);
}

/**
 * The gate at the top of every interop test, for a file that also needs the
 * `extra` tools: the returned check logs why and passes when the test cannot
 * run here (not root), fails when it must run (root) but tools are missing,
 * and otherwise says go.
 */
export function interopGate(extra: ReadonlyArray<readonly [string, string]> = []): (t: ExecutionContext) => boolean {
  const unavailable = interopUnavailable();
  const missing = missingTools(extra);
  return (t) => {
    if (unavailable !== null) {
      t.log(`skipped: ${unavailable}`);
      t.pass();
      return false;
    }
    if (missing.length > 0) {
      t.fail(`running as root, so this test must run, but these are not installed: apt-get install ${missing.join(' ')} (.ci/run does)`);
      return false;
    }
    return true;
  };
}

/** A step that must exit 0; its output goes into the message when it did not. */
export function ok(t: ExecutionContext, r: Run, what: string): void {
  t.is(r.status, 0, `${what}: exit ${r.status}: ${r.stderr}${r.stdout}`);
}

/** Run a command to completion, collecting its output. */
export function run(cmd: string, args: readonly string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ status: code ?? -1, stdout, stderr }));
  });
}

/** Run and require exit status 0 (setup steps whose failure makes the test meaningless). */
export async function must(cmd: string, args: readonly string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

let serial = 0;

/** Stop what runs in namespace `name` and delete it. */
async function removeNamespace(name: string): Promise<void> {
  const pids = await run('ip', ['netns', 'pids', name]);
  for (const p of pids.stdout.split('\n').filter((l) => /^\d+$/.test(l))) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await run('ip', ['netns', 'del', name]);
}

/**
 * Namespaces of earlier runs whose process is gone (a run killed at a test
 * timeout cannot clean up): remove them, so none pile up on the machine.
 */
async function reapStale(): Promise<void> {
  const list = await run('ip', ['netns', 'list']);
  for (const line of list.stdout.split('\n')) {
    const m = /^(rumpnet-test-(\d+)-\d+)\b/.exec(line);
    if (m === null || Number(m[2]) === process.pid) continue;
    let alive = true;
    try {
      process.kill(Number(m[2]), 0);
    } catch {
      alive = false;
    }
    if (!alive) await removeNamespace(m[1]!);
  }
}

export class Netns {
  readonly dir: string;
  private readonly children: ChildProcess[] = [];

  private constructor(readonly name: string) {
    this.dir = mkdtempSync(join(tmpdir(), `${name}-`));
  }

  /** `ip netns add`, loopback up, IPv6 off. */
  static async create(): Promise<Netns> {
    if (serial === 0) await reapStale();
    const ns = new Netns(`rumpnet-test-${process.pid}-${++serial}`);
    await must('ip', ['netns', 'add', ns.name]);
    try {
      await ns.must('ip', ['link', 'set', 'lo', 'up']);
      await ns.must('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    } catch (e) {
      await ns.destroy();
      throw e;
    }
    return ns;
  }

  /** A command inside the namespace, in the scratch directory (root's only) unless `cwd` says otherwise. */
  exec(cmd: string, args: readonly string[], env?: Record<string, string>, cwd = this.dir): Promise<Run> {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], { env, cwd });
  }

  async must(cmd: string, args: readonly string[]): Promise<string> {
    const r = await this.exec(cmd, args);
    if (r.status !== 0) throw new Error(`[${this.name}] ${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /**
   * A TypeScript script (path from the repo root) run by node inside the
   * namespace, killed after `limitSeconds` (coreutils `timeout`, status 124)
   * so that a hang fails with the script's output rather than a test timeout.
   */
  node(script: string, args: readonly string[] = [], env?: Record<string, string>, limitSeconds = 40): Promise<Run> {
    return this.exec('timeout', [String(limitSeconds), process.execPath, `--import=${TSX}`, join(ROOT, script), ...args], env);
  }

  /** A rumpnet tool (`rump.ifconfig`, `rump_server`, ...) run from source inside the namespace. */
  tool(name: string, args: readonly string[], env?: Record<string, string>): Promise<Run> {
    return this.node(join('bin', `${name}.ts`), args, env);
  }

  /**
   * Start a long-running command in the namespace; resolves once a line of
   * its stderr matches `ready` (tcpdump's "listening on ..."). Stopped by
   * `stop()` or at teardown.
   */
  start(cmd: string, args: readonly string[], ready: RegExp): Promise<Background> {
    return new Promise((ok, fail) => {
      const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
      this.children.push(child);
      const bg = new Background(child);
      let seen = false;
      child.stderr!.on('data', (d: Buffer) => {
        bg.stderr += d.toString();
        if (!seen && ready.test(bg.stderr)) {
          seen = true;
          ok(bg);
        }
      });
      child.stdout!.on('data', (d: Buffer) => (bg.stdout += d.toString()));
      child.on('error', fail);
      child.on('close', () => {
        if (!seen) fail(new Error(`${cmd} exited before it was ready: ${bg.stderr}`));
      });
    });
  }

  /**
   * Start a long-running command in the namespace with a line protocol: it
   * reads lines on stdin (`send`), and the test waits for lines of its
   * stdout (`next`). Killed at teardown if still running.
   */
  spawnLines(cmd: string, args: readonly string[], env?: Record<string, string>): LineChild {
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], {
      cwd: this.dir,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.children.push(child);
    return new LineChild(child);
  }

  /** `spawnLines` for a TypeScript script (path from the repo root), killed after `limitSeconds` like `node`. */
  nodeLines(script: string, args: readonly string[] = [], env?: Record<string, string>, limitSeconds = 60): LineChild {
    return this.spawnLines('timeout', [String(limitSeconds), process.execPath, `--import=${TSX}`, join(ROOT, script), ...args], env);
  }

  /** Stop what is left, delete the namespace (its TAP devices go with it) and the scratch directory. */
  async destroy(): Promise<void> {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    // And what our children started in it (a detached rump_server).
    await removeNamespace(this.name);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A persistent TAP device `dev` for Linux's side, with `cidr` and up (a rump kernel attaches with linkstr). */
export async function linuxTap(ns: Netns, dev: string, cidr: string): Promise<void> {
  await ns.must('ip', ['tuntap', 'add', 'dev', dev, 'mode', 'tap']);
  await ns.must('ip', ['addr', 'add', cidr, 'dev', dev]);
  await ns.must('ip', ['link', 'set', dev, 'up']);
}

/** Where rumpOnTun puts each side: Linux's and virt0's addresses with prefix length, IPv6 optional. */
export interface TunAddrs {
  linux: string;
  rump: string;
  linux6?: string;
  rump6?: string;
}

/**
 * A rump_server (`args`: its -l libraries and options) at unix://<dir>/s1,
 * `virt0 create` (the host makes TAP device tun0), Linux's addresses on tun0
 * and tun0 up, then virt0's addresses: the kernel and Linux on one link.
 * Each step must succeed. Returns the RUMP_SERVER environment for the tools.
 */
export async function rumpOnTun(t: ExecutionContext, ns: Netns, args: readonly string[], a: TunAddrs): Promise<{ RUMP_SERVER: string }> {
  const env = { RUMP_SERVER: `unix://${join(ns.dir, 's1')}` };
  ok(t, await ns.tool('rump_server', [...args, env.RUMP_SERVER]), `rump_server ${args.join(' ')}`);
  ok(t, await ns.tool('rump.ifconfig', ['virt0', 'create'], env), 'ifconfig virt0 create');
  await ns.must('ip', ['addr', 'add', a.linux, 'dev', 'tun0']);
  // nodad: the address is usable at once, the test need not wait out duplicate detection.
  if (a.linux6 !== undefined) await ns.must('ip', ['-6', 'addr', 'add', a.linux6, 'dev', 'tun0', 'nodad']);
  await ns.must('ip', ['link', 'set', 'tun0', 'up']);
  ok(t, await ns.tool('rump.ifconfig', ['virt0', 'inet', a.rump], env), 'ifconfig virt0 inet');
  if (a.rump6 !== undefined) {
    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'inet6', a.rump6], env), 'ifconfig virt0 inet6');
    // DAD (RFC 4862 §5.4): wait until the address is usable, as NetBSD's tests do.
    ok(t, await ns.tool('rump.ifconfig', ['-w', '10'], env), 'ifconfig -w 10');
  }
  return env;
}

export class Background {
  stdout = '';
  stderr = '';
  private readonly exited: Promise<number>;

  constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((done) => child.on('close', (code, signal) => done(code ?? (signal ? 128 : -1))));
  }

  /** Wait for the command to exit by itself; resolves with its status (128 when a signal ended it). */
  wait(): Promise<number> {
    return this.exited;
  }

  /** SIGINT (tcpdump writes out its capture and exits) and wait for the exit. */
  async stop(): Promise<number> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGINT');
    return this.exited;
  }
}

/**
 * What both sides say about the link, for a failed step's message: the
 * rump kernel's interface counters and ARP cache, Linux's link counters and
 * neighbours. Frames counted on one side and not the other show where they
 * were lost.
 */
export async function linkState(ns: Netns, env: Record<string, string>, rumpIf: string, linuxDev: string): Promise<string> {
  const parts = await Promise.all([
    ns.tool('rump.ifconfig', ['-v', rumpIf], env),
    ns.tool('rump.arp', ['-an'], env),
    ns.exec('ip', ['-s', 'link', 'show', 'dev', linuxDev]),
    ns.exec('ip', ['neigh', 'show']),
  ]);
  return parts.map((r) => r.stdout + r.stderr).join('');
}

/** The link-layer address of a Linux interface in the namespace. */
export async function linuxMac(ns: Netns, dev: string): Promise<string> {
  const out = await ns.must('cat', [`/sys/class/net/${dev}/address`]);
  return out.trim();
}

/** Whether a network device exists in the namespace. */
export async function linkExists(ns: Netns, dev: string): Promise<boolean> {
  return (await ns.exec('ip', ['link', 'show', 'dev', dev])).status === 0;
}

export interface TsharkRow {
  protocols: string;
  ipChecksum: string;
  icmpChecksum: string;
  malformed: string;
  expert: string;
}

/**
 * Decode a capture with tshark, checksums verified: one row per frame with
 * the protocol stack, the IP and ICMP checksum status (tshark: 1 = good, 0 = bad, empty = none),
 * the malformed marker and the highest expert severity.
 */
export async function tsharkRows(pcap: string): Promise<TsharkRow[]> {
  const r = await run('tshark', [
    '-r', pcap, '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'occurrence=f',
    '-e', 'frame.protocols', '-e', 'ip.checksum.status', '-e', 'icmp.checksum.status', '-e', '_ws.malformed', '-e', '_ws.expert.severity',
  ]);
  if (r.status !== 0) throw new Error(`tshark: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.length > 0).map((l) => {
    const [protocols = '', ipChecksum = '', icmpChecksum = '', malformed = '', expert = ''] = l.split('\t');
    return { protocols, ipChecksum, icmpChecksum, malformed, expert };
  });
}

/**
 * A child spoken to in lines: `send` writes one to its stdin, `next` waits
 * for the next line of its stdout that matches (lines are taken in order, so
 * two replies alike are told apart by when they came). A child that exits
 * before printing what is awaited rejects the wait with its stderr, so a
 * failure shows why rather than hanging until the test's timeout.
 */
export class LineChild {
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<number>;
  private taken = 0;
  private partial = '';
  private waiter: { re: RegExp; ok: (line: string) => void; fail: (e: Error) => void } | null = null;
  private done = false;

  constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => {
      this.partial += d.toString();
      let nl: number;
      while ((nl = this.partial.indexOf('\n')) >= 0) {
        this.lines.push(this.partial.slice(0, nl));
        this.partial = this.partial.slice(nl + 1);
      }
      this.match();
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    // A child gone before reading all of stdin: its EPIPE is reported by `exited`.
    child.stdin!.on('error', () => {});
    this.exited = new Promise((resolveExit) =>
      child.on('close', (code, signal) => {
        this.done = true;
        this.match();
        resolveExit(code ?? (signal ? 128 : -1));
      }),
    );
  }

  send(line: string): void {
    this.child.stdin!.write(line + '\n');
  }

  /** The next line (after those already taken) that matches `re`. */
  next(re: RegExp): Promise<string> {
    if (this.waiter !== null) return Promise.reject(new Error('LineChild.next: one wait at a time'));
    return new Promise((ok, fail) => {
      this.waiter = { re, ok, fail };
      this.match();
    });
  }

  /** `next` for a JSON line whose `event` is `event` (an `error` event rejects with its message). */
  async event<T = Record<string, unknown>>(event: string): Promise<T> {
    const line = await this.next(new RegExp(`^\\{"event":"(${event}|error)"`));
    const obj = JSON.parse(line) as { event: string; message?: string };
    if (obj.event === 'error' && event !== 'error') throw new Error(`peer: ${obj.message}\n${this.stderr}`);
    return obj as T;
  }

  /** Close stdin (the peer's signal to finish). */
  end(): void {
    this.child.stdin!.end();
  }

  private match(): void {
    const w = this.waiter;
    if (w === null) return;
    for (; this.taken < this.lines.length; this.taken++) {
      const line = this.lines[this.taken]!;
      if (w.re.test(line)) {
        this.taken++;
        this.waiter = null;
        w.ok(line);
        return;
      }
    }
    if (this.done) {
      this.waiter = null;
      w.fail(new Error(`exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${w.re}: ${this.stderr}`));
    }
  }
}

/** Bytes of the bulk transfers' data in one pattern call: 1 MiB, a multiple of 4. */
export const PATTERN_CHUNK = 1 << 20;

/**
 * The bulk tests' data, `length` bytes from stream offset `offset` (both
 * multiples of 4): little-endian 32-bit words, word i = i × 0x9E3779B1 mod
 * 2³². The multiplier is odd, so no two words of the first 16 GiB are alike:
 * a segment delivered at the wrong offset, twice, or not at all changes the
 * hash (a repeating pattern could hide that).
 */
export function pattern(offset: number, length: number): Buffer {
  if (offset % 4 !== 0 || length % 4 !== 0) throw new RangeError('pattern: offset and length must be multiples of 4');
  const out = Buffer.allocUnsafe(length);
  const first = offset / 4;
  for (let i = 0; i < length / 4; i++) out.writeUInt32LE(Math.imul(first + i, 0x9e3779b1) >>> 0, i * 4);
  return out;
}
