/*
 * The remote half of the lifecycle (issue 9): sockets of `rumpClient`'s Node
 * faces when the client closes, and when its rump_server goes away.
 *
 *   this process: rumpClient ── unix socket ── rump_server (a child, killed with SIGKILL)
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { rumpInit } from '../../index.js';
import { startRumpServer } from '../../sysproxy/server.js';
import { rumpClient, type RumpClient } from '../../sysproxy/client.js';
import { tempDir } from '../sysproxy/helpers.js';
import type { NetServer, NetSocket } from '../../net/node/net.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const NET = ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet'];

/** A connected pair of the client's net sockets on the served kernel's lo0, and its listening server. */
async function pair(c: RumpClient, port: number, paused = false): Promise<{ server: NetServer; a: NetSocket; b: NetSocket }> {
  let accepted!: (s: NetSocket) => void;
  const b = new Promise<NetSocket>((r) => (accepted = r));
  const server = c.net.createServer({ pauseOnConnect: paused }, (s) => accepted(s));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  const a = c.net.connect(port, '127.0.0.1');
  if (paused) a.pause(); // before it connects: it never starts reading
  await new Promise<void>((r) => a.once('connect', () => r()));
  return { server, a, b: await b };
}

function events(e: NodeJS.EventEmitter): { errors: Error[]; closed: Promise<void> } {
  const errors: Error[] = [];
  e.on('error', (x: Error) => errors.push(x));
  return { errors, closed: new Promise((r) => e.once('close', () => r())) };
}

test('rumpClient.close() with sockets, a server and a dgram socket open closes them, without errors', async (t) => {
  const tmp = tempDir();
  const kernel = await rumpInit({ components: ['net', 'net_net', 'net_netinet'], env: {} });
  const srv = await startRumpServer(kernel, `unix://${join(tmp.dir, 'sock')}`);
  const c = await rumpClient(srv.url);
  const { server, a, b } = await pair(c, 7100);
  const ea = events(a);
  const eb = events(b);
  const es = events(server);
  const udp = c.dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(7101, '127.0.0.1', () => r()));
  const eu = events(udp);
  a.write('some bytes in flight');
  await c.close();
  await Promise.all([ea.closed, eb.closed, es.closed, eu.closed]);
  t.deepEqual([...ea.errors, ...eb.errors, ...es.errors, ...eu.errors], []);
  t.true(a.destroyed && b.destroyed);
  t.false(server.listening);
  // The client's descriptors are gone from the kernel (the server closes what a client leaves).
  let left: unknown[] = [];
  for (let i = 0; i < 50; i++) {
    left = await kernel.sys.ext('sockstat');
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.deepEqual(left, []);
  await srv.close();
  await kernel.halt();
  tmp.remove();
});

test('when rump_server dies, a reading socket gets ECONNRESET and a writing one EPIPE, naming the server; nothing is uncaught', async (t) => {
  const tmp = tempDir();
  const sock = join(tmp.dir, 'sock');
  const url = `unix://${sock}`;
  const child = spawn(process.execPath, ['--import=tsx', join('bin', 'rump_server.ts'), '-sv', ...NET, url], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  try {
    // -v: it says when it listens.
    await new Promise<void>((r, j) => {
      let text = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        text += d;
        if (text.includes('listening on')) r();
      });
      child.once('exit', (code) => j(new Error(`rump_server exited ${code}: ${text}`)));
    });
    const c = await rumpClient(url);
    // reader: reads, writes nothing; writer: paused, its peer paused, writing more than the buffers hold.
    const r = await pair(c, 7200);
    const w = await pair(c, 7201, true);
    const er = events(r.a);
    const ew = events(w.a);
    // The reading peer and the accepting servers fail too (an app without 'error' listeners
    // would crash, as on Node); w.b neither reads nor writes, so, as on Node, it notices nothing.
    const peer = events(r.b);
    const serverErrors = [r.server, w.server].map(
      (srv) => new Promise<NodeJS.ErrnoException>((res) => srv.once('error', (e: NodeJS.ErrnoException) => res(e))),
    );
    const writeErrors: Error[] = [];
    w.a.write(Buffer.alloc(8 << 20), (e) => e && writeErrors.push(e));
    // Both sides are past the point of asking: data waits in the server, a read waits in the server.
    await new Promise((res) => setTimeout(res, 100));
    child.kill('SIGKILL');
    await Promise.all([er.closed, ew.closed]);

    t.is(er.errors.length, 1);
    const re = er.errors[0] as NodeJS.ErrnoException;
    t.is(re.code, 'ECONNRESET');
    t.is(re.syscall, 'read');
    t.true(re.message.startsWith('read ECONNRESET') && re.message.includes(url), re.message);

    t.is(ew.errors.length, 1);
    const we = ew.errors[0] as NodeJS.ErrnoException;
    t.is(we.code, 'EPIPE');
    t.is(we.syscall, 'write');
    t.true(we.message.includes(url), we.message);
    t.is(writeErrors[0], we);
    await peer.closed;
    t.is((peer.errors[0] as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
    for (const e of await Promise.all(serverErrors)) t.is(e.code, 'ECONNRESET');
    w.b.destroy();
    await c.close();
  } finally {
    child.kill('SIGKILL');
    tmp.remove();
  }
});
