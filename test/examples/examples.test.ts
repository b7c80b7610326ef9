/*
 * The examples run as a user runs them (`node examples/x.mjs out.pcapng`,
 * importing `rumpnet/lab` from the built package), each finishes with status
 * 0, and tshark reads each capture and finds what the example is about:
 * retransmissions over the lossy link, the connection's retransmissions
 * across the partition, the routers' time exceeded messages.
 *
 * dist/ is rebuilt first when older than the sources (`rumpnet/lab` loads it).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../interop/helpers.js';

const tshark = spawnSync('sh', ['-c', 'command -v tshark']).status === 0;
if (!tshark) console.log('test/examples: tshark is not installed, so the examples run but their captures are not opened');

/** The newest .ts source the package is built from. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (['node_modules', 'dist', 'test', 'bench', 'examples', 'tmp', '.git'].includes(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

let dir = '';

test.before(() => {
  const built = join(ROOT, 'dist/bin/rump.traceroute.js');
  if (!existsSync(built) || statSync(built).mtimeMs < newest(ROOT)) {
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`building dist/ failed: ${r.stdout}${r.stderr}`);
  }
  dir = mkdtempSync(join(tmpdir(), 'rumpnet-examples-'));
});

test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface ExampleRun {
  status: number | null;
  stdout: string;
  stderr: string;
  pcapng: string;
}

const runs = new Map<string, ExampleRun>();

/** Run examples/<name>.mjs (once per file); its output and its capture's path. */
function example(name: string): ExampleRun {
  const done = runs.get(name);
  if (done) return done;
  const pcapng = join(dir, `${name}.pcapng`);
  const r = spawnSync(process.execPath, [join(ROOT, 'examples', `${name}.mjs`), pcapng], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  const run = { status: r.status, stdout: r.stdout, stderr: r.stderr, pcapng };
  runs.set(name, run);
  return run;
}

/** tshark's fields of the frames matching `filter`, one array per frame. */
function fields(pcapng: string, filter: string, ...names: string[]): string[][] {
  const r = spawnSync('tshark', ['-r', pcapng, '-Y', filter, '-T', 'fields', ...names.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

const withCapture = tshark ? test : test.skip;

test('lossy-download: 1 MB over a link losing 2 %; the capture shows the server retransmitting', (t) => {
  const r = example('lossy-download');
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^downloaded 1000000 bytes in \d+\.\d\d s of virtual time\n/);
  t.true(existsSync(r.pcapng));
});

withCapture('lossy-download: tshark reads the capture', (t) => {
  const { pcapng } = example('lossy-download');
  // server/eth0 holds what the server sent and what it received: its own are from port 80.
  const rexmit = fields(pcapng, 'tcp.analysis.retransmission && tcp.srcport == 80 && frame.interface_name == "server/eth0"', 'frame.number');
  t.true(rexmit.length > 0, 'the server retransmitted what the link lost');
  // tshark reassembles each stream once, at the first copy of its frames it meets.
  t.deepEqual(fields(pcapng, 'http.request', 'http.request.uri'), [['/file']]);
  t.deepEqual(fields(pcapng, 'http.response', 'http.response.code', 'http.content_length'), [['200', '1000000']], 'one 200 with the whole file');
});

test('partition: the connection survives a 20 s cut, then times out when the cut stays', (t) => {
  const r = example('partition');
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /b has "before " \(nothing crossed the cut\)/);
  t.regex(r.stdout, /b has "before during after"\n/);
  t.regex(r.stdout, /: ETIMEDOUT after \d+\.\d s of retransmissions\n/);
});

withCapture('partition: tshark sees a\'s retransmissions, and nothing reaching b while cut', (t) => {
  const { pcapng } = example('partition');
  const rexmit = fields(pcapng, 'tcp.analysis.retransmission && frame.interface_name == "a/eth0"', 'frame.time_relative');
  t.true(rexmit.length >= 12, `${rexmit.length} retransmissions`);
  // Backoff: the gaps between the last retransmissions grow to NetBSD's 64 s cap.
  const times = rexmit.map(([s]) => Number(s));
  t.is(Math.round(times.at(-1)! - times.at(-2)!), 64);
  const atB = fields(pcapng, 'tcp.payload && frame.interface_name == "b/eth0"', 'tcp.payload');
  const text = atB.map(([hex]) => Buffer.from(hex!.replace(/:/g, ''), 'hex').toString()).join('|');
  t.false(text.includes('lost'), 'what a sent during the final cut never reached b');
});

test('router: traceroute shows both routers, then b; a TTL-2 datagram dies at r2', (t) => {
  const r = example('router');
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^rump\.traceroute to b \(10\.0\.3\.2\), 64 hops max, 40 byte packets\n 1  10\.0\.1\.2 .*\n 2  10\.0\.2\.2 .*\n 3  10\.0\.3\.2 .*\n/);
  t.regex(r.stdout, /b received: \["ttl 3"\]\n/);
});

withCapture('router: tshark sees each router\'s time exceeded and b\'s port unreachable at a', (t) => {
  const { pcapng } = example('router');
  const exceeded = fields(pcapng, 'icmp.type == 11 && frame.interface_name == "a/eth0"', 'ip.src');
  t.deepEqual([...new Set(exceeded.map(([src]) => src!.split(',')[0]))].sort(), ['10.0.1.2', '10.0.2.2']);
  const unreachable = fields(pcapng, 'icmp.type == 3 && icmp.code == 3 && frame.interface_name == "a/eth0"', 'ip.src');
  t.true(unreachable.length >= 2);
  // The datagram sent with TTL 2 reaches r2 with TTL 1, and no further; the one with TTL 3 reaches b.
  const path = (text: string): string[] => fields(pcapng, `frame contains "${text}" && !icmp`, 'frame.interface_name', 'ip.ttl').map((f) => f.join(' '));
  t.deepEqual(path('ttl 2'), ['a/eth0 2', 'r1/eth0 2', 'r1/eth1 1', 'r2/eth0 1']);
  t.deepEqual(path('ttl 3'), ['a/eth0 3', 'r1/eth0 3', 'r1/eth1 2', 'r2/eth0 2', 'r2/eth1 1', 'b/eth0 1']);
});
