/*
 * A lab on the host's clock (createLab({ clock: 'real' })): other processes
 * reach its hosts through lab.serve, as they reach a rump_server. No root
 * needed: a unix socket in a temporary directory.
 *
 *   child process: rump.traceroute, rump.ping ── unix socket ── a ── r ── b
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab } from '../../lab/index.js';
import { ROOT, TSX } from '../interop/helpers.js';

/** Run a bin/ tool in a child process against RUMP_SERVER=url; resolves with its status and output. */
function tool(name: string, args: string[], url: string): Promise<{ status: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'bin', `${name}.ts`), ...args], {
      env: { ...process.env, RUMP_SERVER: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d; });
    child.stderr.on('data', (d: Buffer) => { err += d; });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, out, err }));
  });
}

test('child processes trace and ping through a real-time lab over a unix socket', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-rt-'));
  const lab = createLab({ clock: 'real' });
  try {
    t.true(lab.realTime);
    t.throws(() => lab.sim, { message: /a real-time lab has no sim host/ });
    const a = lab.host('a');
    const r = lab.router('r');
    const b = lab.host('b');
    lab.link(a, r, { delay: 5 });
    lab.link(r, b, { delay: 5 });
    // Time passes on the host's clock: a run of 50 ms takes 50 ms.
    const t0 = lab.now();
    await lab.run(50);
    t.true(lab.now() - t0 >= 50);

    const server = await lab.serve(a, `unix://${join(dir, 'a.sock')}`);
    const tr = await tool('rump.traceroute', ['-n', '-q', '1', '-w', '2', 'b'], server.url);
    t.is(tr.status, 0, tr.err);
    t.is(tr.err, 'rump.traceroute to b (10.0.2.2), 64 hops max, 40 byte packets\n');
    const lines = tr.out.trimEnd().split('\n');
    t.is(lines.length, 2, tr.out);
    t.regex(lines[0]!, /^ 1  10\.0\.1\.2  \d+\.\d{3} ms$/);
    t.regex(lines[1]!, /^ 2  10\.0\.2\.2  \d+\.\d{3} ms$/);
    // Round trips are real time now: at least the links' 2 x (5 + 5) ms to b.
    t.true(Number(/ ([\d.]+) ms$/.exec(lines[1]!)![1]) >= 20);

    const ping = await tool('rump.ping', ['-c', '2', '-i', '0.2', '-n', b.address], server.url);
    t.is(ping.status, 0, ping.err);
    t.regex(ping.out, /2 packets transmitted, 2 packets received, 0\.0% packet loss/);

    // The capture has what the child's probes did, stamped with the host's clock.
    const cap = lab.pcapng();
    t.true(cap.length > 1000);
    t.true(server.clients === 0, 'the children have gone');
    void r;
  } finally {
    await lab.halt();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve is for real-time labs; a virtual lab says why', async (t) => {
  const lab = createLab();
  const a = lab.host('a');
  await t.throwsAsync(lab.serve(a, 'unix:///tmp/never.sock'), { message: /serve needs a real-time lab/ });
  t.throws(() => createLab({ clock: 'wall' as never }), { message: /clock must be 'virtual' or 'real'/ });
  await lab.halt();
});
