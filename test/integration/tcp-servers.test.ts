/*
 * TCP across processes (issue 3): two rump_servers on one shmif bus, set
 * up and driven through the client library (netconfig and sys), carry
 * 4 MiB each way over one connection; what arrives is what was sent
 * (SHA-256), and netstat's view through the tools shows the connection.
 *
 *   client ─ unix://s1 ─ rump_server 192.0.2.1 ── shmif0 ══ bus ══ shmif0 ── rump_server 192.0.2.2 ─ unix://s2 ─ client
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AF_INET, SHUT_WR, SOCK_STREAM, rumpClient, type RemoteSys } from '../../index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = import.meta.resolve('tsx');
const LIBS = ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet', '-lrumpnet_shmif'];
const MiB = 1024 * 1024;

function tool(cwd: string, name: string, args: string[], env: Record<string, string> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [`--import=${TSX}`, join(root, 'bin', `${name}.ts`), ...args], {
      cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => done({ status: code ?? -1, stdout, stderr }));
  });
}

/** A deterministic payload: a different one per direction. */
function payload(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function writeAll(sys: RemoteSys, fd: number, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length; ) off += await sys.write(fd, data.subarray(off, off + 256 * 1024));
}

async function readAll(sys: RemoteSys, fd: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const d = await sys.read(fd, 256 * 1024);
    if (d.length === 0) break;
    parts.push(d);
    total += d.length;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

test('two rump_servers on one bus carry 4 MiB each way over TCP through the client library, intact', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-tcp-servers-'));
  const urls = [`unix://${join(dir, 's1')}`, `unix://${join(dir, 's2')}`];
  for (const u of urls) {
    const up = await tool(dir, 'rump_server', [...LIBS, u]);
    t.is(up.status, 0, up.stderr);
  }
  const [c1, c2] = [await rumpClient(urls[0]), await rumpClient(urls[1])];
  try {
    for (const [c, addr] of [[c1, '192.0.2.1'], [c2, '192.0.2.2']] as const) {
      await c.netconfig.ifcreate('shmif0');
      await c.netconfig.ifsetlinkstr('shmif0', join(dir, 'bus'));
      await c.netconfig.ipv4IfaddrCidr('shmif0', addr, 24);
    }
    const lfd = await c2.sys.socket(AF_INET, SOCK_STREAM, 0);
    await c2.sys.bind(lfd, { family: AF_INET, addr: '0.0.0.0', port: 5001 });
    await c2.sys.listen(lfd, 4);
    const cfd = await c1.sys.socket(AF_INET, SOCK_STREAM, 0);
    const [, accepted] = await Promise.all([
      c1.sys.connect(cfd, { family: AF_INET, addr: '192.0.2.2', port: 5001 }),
      c2.sys.accept(lfd),
    ]);
    const sfd = accepted.fd;
    t.is(accepted.addr?.addr, '192.0.2.1');

    const netstat = await tool(dir, 'rump.netstat', ['-an', '-f', 'inet'], { RUMP_SERVER: urls[1]! });
    t.regex(netstat.stdout, /^tcp +0 +0 +192\.0\.2\.2\.5001 +192\.0\.2\.1\.\d+ +ESTABLISHED$/m, netstat.stdout + netstat.stderr);

    const up = payload(4 * MiB, 1);
    const down = payload(4 * MiB, 2);
    // Both directions at once, each side half-closing when done.
    const [gotAtServer, gotAtClient] = await Promise.all([
      readAll(c2.sys, sfd),
      readAll(c1.sys, cfd),
      writeAll(c1.sys, cfd, up).then(() => c1.sys.shutdown(cfd, SHUT_WR)),
      writeAll(c2.sys, sfd, down).then(() => c2.sys.shutdown(sfd, SHUT_WR)),
    ]);
    t.is(gotAtServer.length, up.length);
    t.is(sha(gotAtServer), sha(up), 'client → server intact');
    t.is(gotAtClient.length, down.length);
    t.is(sha(gotAtClient), sha(down), 'server → client intact');
    await c1.sys.close(cfd);
    await c2.sys.close(sfd);
    await c2.sys.close(lfd);
  } finally {
    await c1.close();
    await c2.close();
    for (const u of urls) t.is((await tool(dir, 'rump.halt', [], { RUMP_SERVER: u })).status, 0);
    rmSync(dir, { recursive: true, force: true });
  }
});
