// rump_server and rump.halt as a user runs them: real processes, started
// from the repository root with `node --import=tsx`, on sockets in a
// temporary directory. Waits are on process exits and output lines, never sleeps.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { rumpClient } from '../../sysproxy/client.js';
import { Errno, EAFNOSUPPORT } from '../../kern/errno.js';
import { AF_INET, SOCK_DGRAM } from '../../kern/sys.js';
import { tempDir } from './helpers.js';
import { main as serverMain } from '../../bin/rump_server.js';
import { main as haltMain } from '../../bin/rump.halt.js';
import type { ToolIO } from '../../bin/common.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(tool: string, args: string[], env: Record<string, string | undefined> = {}): ChildProcess {
  const e: Record<string, string | undefined> = { ...process.env, ...env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete e[k];
  return spawn(process.execPath, ['--import=tsx', join('bin', `${tool}.ts`), ...args], {
    cwd: root,
    env: e,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function finished(child: ChildProcess): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

function run(tool: string, args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return finished(start(tool, args, env));
}

/** Resolves with everything read once stderr has printed a line matching `re`. */
function stderrLine(child: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      text += s;
      if (re.test(text)) resolve(text);
    });
    child.once('close', () => reject(new Error(`exited before printing ${re}: ${text}`)));
  });
}

const NET = ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet'];
const USAGE = 'usage: rump_server [-sv] [-c ncpu] [-l libs] [-o log] [-r ram] [-R resolv.conf] [-H hosts] url\n';

/** Run a tool's main() in this process, collecting what it prints. */
async function inProcess(main: (argv: string[], io: ToolIO) => Promise<number>, argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

for (const args of [[], ['-x', 'unix://s'], ['unix://a', 'unix://b'], ['-c'], ['-d', 'disk', 'unix://s']]) {
  test(`rump_server ${args.join(' ') || '(no arguments)'}: usage on stderr, exit 1`, async (t) => {
    const r = await inProcess(serverMain, args);
    t.is(r.code, 1);
    t.true(r.stderr.endsWith(USAGE), r.stderr);
    t.is(r.stdout, '');
  });
}

test('rump_server with an unknown component prints the boot error and exits 1, detached or not', async (t) => {
  const tmp = tempDir();
  const url = `unix://${join(tmp.dir, 'sock')}`;
  const detached = await run('rump_server', ['-lrumpnet', '-lrumpnet_bogus', url]);
  t.is(detached.code, 1);
  t.regex(detached.stderr, /^rump_server: unknown component "rumpnet_bogus"/);
  const fg = await inProcess(serverMain, ['-s', '-lrumpnet', '-lrumpnet_bogus', url]);
  t.is(fg.code, 1);
  t.regex(fg.stderr, /^rump_server: unknown component "rumpnet_bogus"/);
  t.false(existsSync(join(tmp.dir, 'sock')));
  tmp.remove();
});

test('rump_server with a bad -c or -r prints the parameter error and exits 1', async (t) => {
  const tmp = tempDir();
  const c = await inProcess(serverMain, ['-s', '-c', 'zero', `unix://${join(tmp.dir, 'sock')}`]);
  t.is(c.code, 1);
  t.regex(c.stderr, /^rump_server: RUMP_NCPU: invalid value "zero"/);
  const r = await inProcess(serverMain, ['-s', '-r', '10x', `unix://${join(tmp.dir, 'sock')}`]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^rump_server: RUMP_MEMLIMIT: invalid value "10x"/);
  tmp.remove();
});

test('rump_server refuses a non-loopback tcp URL', async (t) => {
  const r = await inProcess(serverMain, ['tcp://0.0.0.0:9999']);
  t.is(r.code, 1);
  t.regex(r.stderr, /not an IPv4 loopback address/);
});

test('rump_server returns once it listens; the detached server serves; rump.halt stops it and removes the socket', async (t) => {
  const tmp = tempDir();
  const sock = join(tmp.dir, 'sock');
  const url = `unix://${sock}`;
  const r = await run('rump_server', [...NET, '-c', '3', url]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  // It listens already: no waiting.
  const st = statSync(sock);
  t.true(st.isSocket());
  t.is(st.mode & 0o777, 0o600);
  const c = await rumpClient(url);
  let pid = c.banner.pid;
  try {
    t.is(await c.sys.sysctl('hw.ncpu'), 3, '-c 3 set hw.ncpu');
    const fd = await c.sys.socket(AF_INET, SOCK_DGRAM, 0);
    t.is(fd, 3, 'the -l components are linked: it has IPv4');
    await c.close();

    // A second server on the same socket is refused; the first carries on.
    const again = await run('rump_server', [...NET, url]);
    t.is(again.code, 1);
    t.regex(again.stderr, /^rump_server: .*already listening.*Address already in use/);

    const halt = await run('rump.halt', [], { RUMP_SERVER: url });
    t.is(halt.code, 0, halt.stderr);
    t.is(halt.stderr, '');
    t.false(existsSync(sock), 'the socket is gone once rump.halt returns');
    pid = 0;

    const twice = await run('rump.halt', [], { RUMP_SERVER: url });
    t.is(twice.code, 1);
    t.regex(twice.stderr, /^rump\.halt: rumpclient init: connect: .*No such file or directory\n$/);
  } finally {
    if (pid !== 0) process.kill(pid, 'SIGTERM');
    tmp.remove();
  }
});

test('rump_server tcp://127.0.0.1:0 prints the URL with the port it chose; -o names the detached server\'s log', async (t) => {
  const tmp = tempDir();
  const log = join(tmp.dir, 'server.log');
  const r = await run('rump_server', ['-v', '-o', log, ...NET, 'tcp://127.0.0.1:0']);
  t.is(r.code, 0, r.stderr);
  const m = /^tcp:\/\/127\.0\.0\.1:(\d+)\n$/.exec(r.stdout);
  t.truthy(m, r.stdout);
  const url = r.stdout.trim();
  t.true(Number(m![1]) > 0);
  // Boot messages printed before it detached came here; what it says after goes to the log.
  t.regex(r.stderr, /listening on tcp:\/\/127\.0\.0\.1:\d+/);
  const c = await rumpClient(url);
  t.is(await c.sys.sysctl('hw.ncpu'), 2);
  await c.close();
  const halt = await run('rump.halt', [], { RUMP_SERVER: url });
  t.is(halt.code, 0, halt.stderr);
  t.regex(readFileSync(log, 'utf8'), /rump_server: halt requested by client 2\n/);
  tmp.remove();
});

test('rump_server -o with a log it cannot open says so and exits 1', async (t) => {
  const tmp = tempDir();
  const r = await inProcess(serverMain, ['-o', join(tmp.dir, 'no', 'such', 'dir', 'log'), 'tcp://127.0.0.1:0']);
  t.is(r.code, 1);
  t.true(r.stderr.endsWith(`rump_server: ${join(tmp.dir, 'no', 'such', 'dir', 'log')}: No such file or directory\n`), r.stderr);
  tmp.remove();
});

test('a tool gives up on a server that never answers, with a message and status 1', async (t) => {
  const tmp = tempDir();
  const path = join(tmp.dir, 'mute');
  const held: net.Socket[] = [];
  const mute = net.createServer((s) => void held.push(s.resume()));
  await new Promise<void>((resolve) => mute.listen(path, resolve));
  const r = await run('rump.sysctl', ['hw.ncpu'], { RUMP_SERVER: `unix://${path}` });
  t.is(r.code, 1);
  t.is(r.stderr, `rump.sysctl: RUMP_SERVER unix://${path}: Connection timed out\n`);
  for (const s of held) s.destroy();
  await new Promise((resolve) => mute.close(resolve));
  tmp.remove();
});

test('rump_server -s stays in the foreground; -v prints boot messages; SIGTERM stops it and removes the socket', async (t) => {
  const tmp = tempDir();
  const sock = join(tmp.dir, 'sock');
  const child = start('rump_server', ['-sv', `unix://${sock}`]);
  const out = finished(child);
  const boot = await stderrLine(child, /listening on unix:/);
  t.regex(boot, /rump kernel on the node host/);
  t.true(statSync(sock).isSocket());
  // A kernel with no -l has no networking.
  const c = await rumpClient(`unix://${sock}`);
  t.is(c.banner.pid, child.pid!);
  const err = await t.throwsAsync(c.sys.socket(AF_INET, SOCK_DGRAM, 0), { instanceOf: Errno });
  t.is(err.errno, EAFNOSUPPORT);
  child.kill('SIGTERM');
  const r = await out;
  t.is(r.code, 0);
  t.false(existsSync(sock));
  await c.close();
  tmp.remove();
});

test('rump_server on tcp:// warns that the port gives control of the kernel; SIGINT stops it', async (t) => {
  const child = start('rump_server', ['-s', '-v', 'tcp://127.0.0.1:0']);
  const out = finished(child);
  const text = await stderrLine(child, /listening on tcp:\/\/127\.0\.0\.1:\d+/);
  t.regex(text, /warning: .*anyone who can connect to this port controls the rump kernel/);
  const url = /listening on (tcp:\/\/127\.0\.0\.1:\d+)/.exec(text)![1]!;
  const c = await rumpClient(url);
  t.is(await c.sys.sysctl('hw.ncpu'), 2);
  await c.close();
  child.kill('SIGINT');
  t.is((await out).code, 0);
});

test('rump.halt: bad flag or operand is usage and exit 1; no RUMP_SERVER or no server is exit 1', async (t) => {
  const bad = await inProcess(haltMain, ['-x']);
  t.is(bad.code, 1);
  t.is(bad.stderr, 'rump.halt: unknown option -- x\nusage: rump.halt [-dhn]\n');
  const operand = await inProcess(haltMain, ['now']);
  t.is(operand.code, 1);
  t.is(operand.stderr, 'usage: rump.halt [-dhn]\n');
  const unset = await run('rump.halt', [], { RUMP_SERVER: undefined });
  t.is(unset.code, 1);
  t.is(unset.stderr, 'rump.halt: rumpclient init: RUMP_SERVER is not set\n');
  const nobody = await run('rump.halt', [], { RUMP_SERVER: 'tcp://127.0.0.1:1' });
  t.is(nobody.code, 1);
  t.regex(nobody.stderr, /^rump\.halt: rumpclient init: connect: tcp:\/\/127\.0\.0\.1:1: Connection refused\n$/);
});

test('rump.halt -h halts the kernel but leaves the server process up', async (t) => {
  const tmp = tempDir();
  const sock = join(tmp.dir, 'sock');
  const child = start('rump_server', ['-sv', `unix://${sock}`]);
  const out = finished(child);
  await stderrLine(child, /listening on unix:/);
  const halt = await run('rump.halt', ['-h'], { RUMP_SERVER: `unix://${sock}` });
  t.is(halt.code, 0, halt.stderr);
  t.true(existsSync(sock), 'still listening');
  const c = await rumpClient(`unix://${sock}`);
  t.is((await t.throwsAsync(c.sys.sysctl('hw.ncpu'), { instanceOf: Errno })).code, 'ESHUTDOWN');
  await c.close();
  child.kill('SIGTERM');
  t.is((await out).code, 0);
  t.false(existsSync(sock));
  tmp.remove();
});
