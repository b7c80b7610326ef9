/*
 * Node's http, unchanged, over kernel.net: http.createServer() listening
 * in a kernel (kernel.net.listen), http.request({ createConnection }) and
 * a keep-alive Agent connecting through one.
 *
 *   in one kernel:   client ── lo0 ── http.Server                  (node host)
 *   two kernels:     A 192.0.2.1 ── shmif0 ══ bus1 ══ shmif0 ── B 192.0.2.2 (http.Server)   (sim host)
 *   two processes:   this process ── rump_server ── kernel ── lo0 ── http.Server, through the client library
 */
import test from 'ava';
import http from 'node:http';
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rumpInit, rumpClient, startRumpServer, createSimHost, type NetModule } from '../../index.js';
import { drive, once, simKernel } from './helpers.js';

/** An app that echoes what it was sent, with its method and path. */
function app(): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      res.setHeader('x-remote', `${req.socket.remoteAddress}`);
      res.end(`${req.method} ${req.url} ${body}`);
    });
  });
}

interface Reply {
  status: number;
  body: string;
  remote: string | undefined;
  reused: boolean;
}

function request(net: NetModule, host: string, port: number, opts: { method?: string; path?: string; body?: string; agent?: http.Agent } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        ...(opts.agent ? { agent: opts.agent } : { createConnection: (o: object) => net.createConnection(o as never) as never }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), remote: res.headers['x-remote'] as string | undefined, reused: req.reusedSocket }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A keep-alive Agent whose connections are the kernel's. */
function kernelAgent(net: NetModule): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  (agent as unknown as { createConnection: unknown }).createConnection = (o: object) => net.createConnection(o as never);
  return agent;
}

test('http.createServer and http.request over kernel.net on lo0', async (t) => {
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet'] });
  const server = app();
  k.net.listen(server, 0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address() as { port: number; address: string; family: string };
  t.is(addr.address, '127.0.0.1');
  t.true(server.listening);

  const one = await request(k.net, '127.0.0.1', addr.port, { method: 'POST', path: '/echo', body: 'hello kernel' });
  t.deepEqual(one, { status: 200, body: 'POST /echo hello kernel', remote: '127.0.0.1', reused: false });

  // A big body both ways (many segments, window updates, the parser across reads).
  const big = 'x'.repeat(1_000_000);
  const two = await request(k.net, '127.0.0.1', addr.port, { method: 'PUT', path: '/big', body: big });
  t.is(two.body, `PUT /big ${big}`);

  // Keep-alive: the second request rides the first one's connection.
  const agent = kernelAgent(k.net);
  const a1 = await request(k.net, '127.0.0.1', addr.port, { path: '/1', agent });
  const a2 = await request(k.net, '127.0.0.1', addr.port, { path: '/2', agent });
  t.deepEqual([a1.body, a1.reused, a2.body, a2.reused], ['GET /1 ', false, 'GET /2 ', true]);
  agent.destroy();

  // The server's own close() works through the kernel's handle.
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  t.false(server.listening);
  await k.halt();
});

test('http between two kernels on a sim bus, on the virtual clock', async (t) => {
  const sim = createSimHost({ seed: 31 });
  const a = await simKernel(sim, 'bus1', '192.0.2.1');
  const b = await simKernel(sim, 'bus1', '192.0.2.2');
  const server = app();
  b.net.listen(server, 80);
  await drive(sim, once(server, 'listening'));
  const reply = await drive(sim, request(a.net, '192.0.2.2', 80, { method: 'POST', path: '/over/the/bus', body: 'from A' }));
  t.deepEqual(reply, { status: 200, body: 'POST /over/the/bus from A', remote: '192.0.2.1', reused: false });
  await drive(sim, new Promise<void>((r) => server.close(() => r())));
  await a.halt();
  await b.halt();
});

test('http through rump_server: the client library\'s net carries http unchanged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-http-'));
  const served = await rumpInit({ components: ['net', 'net_net', 'net_netinet'] });
  const srv = await startRumpServer(served, `unix://${join(dir, 'sock')}`);
  const remote = await rumpClient(`unix://${join(dir, 'sock')}`);
  try {
    // The server runs here but listens in the served kernel; the request comes from the served kernel itself.
    const server = app();
    remote.net.listen(server, 8080);
    await once(server, 'listening');
    t.deepEqual(server.address(), { address: '0.0.0.0', family: 'IPv4', port: 8080 });
    const reply = await request(served.net, '127.0.0.1', 8080, { method: 'POST', path: '/remote', body: 'across processes' });
    t.deepEqual(reply, { status: 200, body: 'POST /remote across processes', remote: '127.0.0.1', reused: false });
    // And the other way round: a client here, through the server, to a server in the kernel's own process.
    const local = app();
    served.net.listen(local, 8081);
    await once(local, 'listening');
    const back = await request(remote.net, '127.0.0.1', 8081, { path: '/back' });
    t.is(back.body, 'GET /back ');
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => local.close(() => r()));
  } finally {
    await remote.close();
    await srv.close();
    await served.halt();
    rmSync(dir, { recursive: true, force: true });
  }
});
