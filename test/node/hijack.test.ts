/*
 * The hijack: unmodified Node programs (test/node/fixtures/) run in a child
 * process with `--import hijack.ts` and RUMP_SERVER, their sockets in a
 * rump kernel served from this process:
 *
 *   child: app.mjs ── node:net/http/dgram (hijacked) ── sysproxy ══ unix socket ══ rump_server (here) ── kernel ── lo0
 *
 * What shows that the traffic is in the kernel and not on the host: the
 * program's server is reached through the kernel's own net (kernel.net,
 * in this process), and a host connection to the same port is refused;
 * the clients reach servers that exist only in the kernel. Local sockets
 * stay on the host unless RUMPHIJACK says otherwise. The programs exit by
 * themselves once their own sockets are done.
 */
import test from 'ava';
import http from 'node:http';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import hostNet from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Buffer } from 'node:buffer';
import { rumpInit, startRumpServer, type RumpKernel, type RumpServer } from '../../index.js';
import { once } from './helpers.js';
import hostDns from 'node:dns';
import { hostname } from 'node:os';
import { DnsType } from '../../net/wire/dns.js';
import { startDnsServer } from '../helpers/dns-server.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const HIJACK = join(root, 'hijack.ts');

interface Child {
  lines: string[];
  /** Resolves with the first stdout line matching `re`. */
  line(re: RegExp): Promise<string>;
  exit: Promise<{ code: number | null; stderr: string }>;
}

function run(app: string, env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', HIJACK, join(here, 'fixtures', app)], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(l);
      for (const w of waiters.splice(0)) {
        if (w.re.test(l)) w.resolve(l);
        else waiters.push(w);
      }
    }
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | null; stderr: string }>((r) => child.on('exit', (code) => r({ code, stderr })));
  return {
    lines,
    line: (re) =>
      new Promise((resolveLine, reject) => {
        const seen = lines.find((l) => re.test(l));
        if (seen !== undefined) resolveLine(seen);
        else waiters.push({ re, resolve: resolveLine });
        exit.then(({ stderr: e }) => reject(new Error(`the program exited before printing ${re}: ${e}`)));
      }),
    exit,
  };
}

async function served(
  components = ['net', 'net_net', 'net_netinet'],
): Promise<{ k: RumpKernel; server: RumpServer; url: string; dir: string; done: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-hijack-'));
  const k = await rumpInit({ components });
  const url = `unix://${join(dir, 'sock')}`;
  const server = await startRumpServer(k, url);
  return {
    k, server, url, dir,
    done: async () => {
      await server.close();
      await k.halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `count` consecutive host ports nobody uses right now (other tests' host connections take ephemeral ports too). */
async function freeHostPort(count = 1): Promise<number> {
  for (;;) {
    const held: hostNet.Server[] = [];
    const hold = (p: number): Promise<boolean> => new Promise((r) => {
      const s = hostNet.createServer();
      s.once('error', () => r(false));
      s.listen(p, '127.0.0.1', () => {
        held.push(s);
        r(true);
      });
    });
    await hold(0);
    const port = (held[0]!.address() as { port: number }).port;
    let ok = port + count - 1 <= 65535;
    for (let i = 1; i < count && ok; i++) ok = await hold(port + i);
    await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
    if (ok) return port;
  }
}

function get(net: { createConnection: (o: never) => unknown }, port: number, path: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolveGet, reject) => {
    http
      .get({ host, port, path, createConnection: (o: object) => net.createConnection(o as never) as never }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d));
        res.on('end', () => resolveGet(b));
      })
      .on('error', reject);
  });
}

test('an unmodified http server under the hijack listens in the rump kernel, and exits when it closes', async (t) => {
  const s = await served();
  try {
    const port = await freeHostPort();
    const child = run('http-server.mjs', { RUMP_SERVER: s.url, PORT: String(port) });
    const listening = await child.line(/^listening /);
    t.is(listening, `listening {"address":"0.0.0.0","family":"IPv4","port":${port}}`);
    // Reached through the kernel...
    t.is(await get(s.k.net, port, '/hi'), 'hello /hi from 127.0.0.1');
    // ...and not on the host.
    const refused = await new Promise<string>((r) => {
      const c = hostNet.connect(port, '127.0.0.1');
      c.on('connect', () => r('connected'));
      c.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
    });
    t.is(refused, 'ECONNREFUSED');
    t.is(await get(s.k.net, port, '/quit'), 'hello /quit from 127.0.0.1');
    const { code, stderr } = await child.exit;
    t.is(code, 0, stderr);
    t.deepEqual(child.lines.slice(-1), ['closed']);
  } finally {
    await s.done();
  }
});

test('when the rump server goes away, a hijacked socket fails with ECONNRESET naming it, and the program exits normally', async (t) => {
  const s = await served();
  let stopped = false;
  try {
    const port = 7300; // in the kernel, not on the host
    const srv = s.k.net.createServer((sock) => sock.write('hi'));
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
    const child = run('server-gone.mjs', { RUMP_SERVER: s.url, PORT: String(port) });
    await child.line(/^data hi$/);
    await s.done();
    stopped = true;
    const { code, stderr } = await child.exit;
    t.is(code, 0, stderr);
    const err = child.lines.find((l) => l.startsWith('error '));
    t.truthy(err, child.lines.join('\n'));
    t.true(err!.startsWith('error ECONNRESET read read ECONNRESET ('), err);
    t.true(err!.includes(s.url), err);
    t.is(child.lines.at(-1), 'closed');
  } finally {
    if (!stopped) await s.done();
  }
});

/** Echo servers in `net`/`dgram`: TCP at port (echo after FIN), HTTP at port+1, UDP at port+2. */
async function echoServers(
  net: { createServer: (o: object, l: (s: hostNet.Socket) => void) => { listen: (...a: unknown[]) => unknown; close: () => unknown }; listen?: unknown },
  listenHttp: (server: http.Server, port: number) => void,
  dgram: { createSocket: (t: 'udp4') => { on: (e: string, f: (m: Buffer, r: { port: number; address: string }) => void) => void; send: (...a: unknown[]) => void; bind: (p: number, a: string, cb: () => void) => void; close: () => void } },
  port: number,
): Promise<() => void> {
  const tcp = net.createServer({ allowHalfOpen: true }, (sock) => {
    let got = '';
    sock.on('data', (d: Buffer) => (got += d));
    sock.on('end', () => sock.end(`echo:${got}`));
  });
  await new Promise<void>((r) => tcp.listen(port, '127.0.0.1', () => r()));
  const web = http.createServer((req, res) => res.end(`web:${req.url}`));
  listenHttp(web, port + 1);
  await once(web, 'listening');
  const udp = dgram.createSocket('udp4');
  udp.on('message', (m, r) => udp.send(`echo:${m}`, r.port, r.address));
  await new Promise<void>((r) => udp.bind(port + 2, '127.0.0.1', () => r()));
  return () => {
    tcp.close();
    web.close();
    udp.close();
  };
}

async function unixEcho(dir: string): Promise<{ path: string; close: () => void }> {
  const path = join(dir, 'echo.sock');
  const srv = hostNet.createServer({ allowHalfOpen: true }, (sock) => {
    let got = '';
    sock.on('data', (d: Buffer) => (got += d));
    sock.on('end', () => sock.end(`host-unix:${got}`));
  });
  await new Promise<void>((r) => srv.listen(path, () => r()));
  return { path, close: () => srv.close() };
}

const EXPECTED = [
  'net.connect: echo:net.connect',
  'new net.Socket: echo:new net.Socket instanceof=false',
  'http.get: 200 web:/via-agent',
  'fetch: 200 web:/via-fetch',
  'dgram: echo:dgram',
];

test('unmodified clients under the hijack (net, new net.Socket, http.get, fetch, dgram) reach servers that exist only in the kernel; unix sockets stay on the host', async (t) => {
  const s = await served();
  const unix = await unixEcho(s.dir);
  const stop = await echoServers(s.k.net as never, (srv, p) => s.k.net.listen(srv, p, '127.0.0.1'), s.k.dgram as never, 7000);
  try {
    const child = run('clients.mjs', { RUMP_SERVER: s.url, HOST: '127.0.0.1', PORT: '7000', UNIX_PATH: unix.path });
    const { code, stderr } = await child.exit;
    t.is(code, 0, stderr);
    t.deepEqual(child.lines, [...EXPECTED, 'unix net.connect: host-unix:unix', 'unix new net.Socket: host-unix:unix2', 'done']);
  } finally {
    stop();
    unix.close();
    await s.done();
  }
});

test('RUMPHIJACK=socket=none leaves every socket on the host; socket=all sends local ones to the kernel, which has none', async (t) => {
  const s = await served();
  const unix = await unixEcho(s.dir);
  const port = await freeHostPort(3);
  const stop = await echoServers(hostNet as never, (srv, p) => srv.listen(p, '127.0.0.1'), (await import('node:dgram')).default as never, port);
  try {
    const none = run('clients.mjs', { RUMP_SERVER: s.url, RUMPHIJACK: 'socket=none', HOST: '127.0.0.1', PORT: String(port), UNIX_PATH: unix.path });
    const r1 = await none.exit;
    t.is(r1.code, 0, r1.stderr);
    t.deepEqual(none.lines, [
      'net.connect: echo:net.connect',
      'new net.Socket: echo:new net.Socket instanceof=true',
      'http.get: 200 web:/via-agent',
      'fetch: 200 web:/via-fetch',
      'dgram: echo:dgram',
      'unix net.connect: host-unix:unix',
      'unix new net.Socket: host-unix:unix2',
      'done',
    ]);
  } finally {
    stop();
  }
  const stopKernel = await echoServers(s.k.net as never, (srv, p) => s.k.net.listen(srv, p, '127.0.0.1'), s.k.dgram as never, 7100);
  try {
    const all = run('clients.mjs', { RUMP_SERVER: s.url, RUMPHIJACK: 'socket=all', HOST: '127.0.0.1', PORT: '7100', UNIX_PATH: unix.path });
    const r2 = await all.exit;
    t.is(r2.code, 0, r2.stderr);
    t.deepEqual(all.lines, [
      ...EXPECTED,
      'unix net.connect: error EAFNOSUPPORT connect',
      'unix new net.Socket: error EAFNOSUPPORT connect',
      'done',
    ]);
    const bad = run('clients.mjs', { RUMP_SERVER: s.url, RUMPHIJACK: 'socket=inet:nosuchfamily', HOST: '127.0.0.1', PORT: '7100' });
    const r3 = await bad.exit;
    t.not(r3.code, 0);
    t.regex(r3.stderr, /RUMPHIJACK: unknown socket family "nosuchfamily"/);
    const unset = run('clients.mjs', { RUMP_SERVER: '', HOST: '127.0.0.1', PORT: '7100' });
    const r4 = await unset.exit;
    t.not(r4.code, 0);
    t.regex(r4.stderr, /RUMP_SERVER is not set/);
  } finally {
    stopKernel();
    unix.close();
    await s.done();
  }
});

/** A self-signed certificate for 127.0.0.1, made with openssl; null when openssl is missing. */
function certificate(dir: string): { key: Buffer; cert: Buffer; certFile: string } | null {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: 'ignore' });
  } catch {
    return null;
  }
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), certFile };
}

test('https under the hijack: TLS in the program, its TCP in the kernel, to an https server that exists only there', async (t) => {
  const s = await served();
  const pem = certificate(s.dir);
  if (pem === null) {
    t.log('openssl is not installed: nothing to make a certificate with, so this test checks nothing');
    t.pass();
    await s.done();
    return;
  }
  const stop = await echoServers(s.k.net as never, (srv, p) => s.k.net.listen(srv, p, '127.0.0.1'), s.k.dgram as never, 7200);
  const secure = https.createServer({ key: pem.key, cert: pem.cert }, (req, res) => res.end(`tls:${req.url}`));
  s.k.net.listen(secure, 7203, '127.0.0.1');
  await once(secure, 'listening');
  try {
    const child = run('clients.mjs', { RUMP_SERVER: s.url, HOST: '127.0.0.1', PORT: '7200', CA_FILE: pem.certFile });
    const { code, stderr } = await child.exit;
    t.is(code, 0, stderr);
    t.deepEqual(child.lines, [...EXPECTED, 'https.get: 200 tls:/via-https authorized=true', 'done']);
  } finally {
    stop();
    secure.close();
    await s.done();
  }
});

test('under the hijack names resolve in the kernel: node:dns, http.get and fetch ask its resolver, never the host\'s', async (t) => {
  const s = await served();
  const dnsServer = startDnsServer(s.k, {
    zone: {
      'www.lab.example': [{ type: DnsType.A, data: '127.0.0.1' }],
      'db.lab.example': [{ type: DnsType.A, data: '127.0.0.9' }],
      'lab.example': [{ type: DnsType.MX, data: { priority: 5, exchange: 'mail.lab.example' } }],
    },
  });
  const web = s.k.net.listen(http.createServer((req, res) => res.end(`kernel web ${req.url}`)), 0);
  try {
    await once(web, 'listening');
    const port = (web.address() as { port: number }).port;
    // The kernel's resolver: its DNS server at its own 127.0.0.1:53.
    await s.k.resolver.set({ nameservers: ['127.0.0.1'] });
    const child = run('dns-client.mjs', { RUMP_SERVER: s.url, PORT: String(port), WEB: 'www.lab.example' });
    const { code, stderr } = await child.exit;
    t.is(code, 0, stderr);
    t.deepEqual(child.lines, [
      'lookup: {"address":"127.0.0.1","family":4}',
      'named lookup: 127.0.0.1',
      'resolve4: ["127.0.0.9"]',
      'resolveMx: [{"priority":5,"exchange":"mail.lab.example"}]',
      // The host knows its own name (/etc/hosts); the kernel does not, and the host was not asked.
      "host's own name: error ENOTFOUND",
      'http.get: kernel web /http',
      'fetch: kernel web /fetch',
    ]);
    t.true(dnsServer.log.includes(`udp A ${hostname()}`), 'the host name was asked of the kernel\'s DNS server');

    // RUMPHIJACK dns=host: the host's resolver again, for node:dns and the kernel's sockets.
    const hostMode = run('dns-client.mjs', { RUMP_SERVER: s.url, PORT: String(port), WEB: 'hostname', RUMPHIJACK: 'socket=all:nolocal,dns=host' });
    const r2 = await hostMode.exit;
    t.is(r2.code, 0, r2.stderr);
    const hostAnswer = await hostDns.promises.lookup(hostname(), 4);
    t.deepEqual(hostMode.lines, [
      `host's own name: ${JSON.stringify(hostAnswer)}`,
      'http.get: kernel web /http',
      'fetch: kernel web /fetch',
    ]);

    // socket=none: nothing hijacked, names included, unless dns=kernel asks for them.
    const none = run('dns-client.mjs', { RUMP_SERVER: s.url, WEB: 'hostname', NO_WEB: '1', RUMPHIJACK: 'socket=none' });
    t.is((await none.exit).code, 0);
    t.deepEqual(none.lines, [`host's own name: ${JSON.stringify(hostAnswer)}`]);
    const noneKernel = run('dns-client.mjs', { RUMP_SERVER: s.url, WEB: 'www.lab.example', NO_WEB: '1', RUMPHIJACK: 'socket=none,dns=kernel' });
    t.is((await noneKernel.exit).code, 0);
    t.deepEqual(noneKernel.lines.slice(0, 3), ['lookup: {"address":"127.0.0.1","family":4}', 'named lookup: 127.0.0.1', 'resolve4: ["127.0.0.9"]']);
    const bad = run('dns-client.mjs', { RUMP_SERVER: s.url, WEB: 'hostname', NO_WEB: '1', RUMPHIJACK: 'dns=bogus' });
    const badExit = await bad.exit;
    t.not(badExit.code, 0);
    t.regex(badExit.stderr, /RUMPHIJACK: unknown dns "bogus"/);
  } finally {
    dnsServer.close();
    web.close();
    await s.done();
  }
});

const NET6 = ['net', 'net_net', 'net_netinet', 'net_netinet6'];

/** Whether a host connection to `port` at `host` is refused (nothing of the program's on the host). */
function hostRefused(port: number, host: string): Promise<string> {
  return new Promise<string>((r) => {
    const c = hostNet.connect(port, host);
    c.on('connect', () => {
      c.destroy();
      r('connected');
    });
    c.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
  });
}

// Serial (before the concurrent tests): its host port must stay free, and the socket=none test listens on the host.
test.serial('IPv6 under the hijack: listen() without a host is :: in the kernel, dual-stack; socket=inet keeps it to 0.0.0.0', async (t) => {
  const s = await served(NET6);
  try {
    const port = await freeHostPort();
    const child = run('http-server.mjs', { RUMP_SERVER: s.url, PORT: String(port) });
    t.is(await child.line(/^listening /), `listening {"address":"::","family":"IPv6","port":${port}}`);
    t.is(await get(s.k.net, port, '/v4', '127.0.0.1'), 'hello /v4 from ::ffff:127.0.0.1');
    t.is(await get(s.k.net, port, '/v6', '::1'), 'hello /v6 from ::1');
    t.is(await hostRefused(port, '127.0.0.1'), 'ECONNREFUSED');
    t.is(await hostRefused(port, '::1'), 'ECONNREFUSED');
    await get(s.k.net, port, '/quit', '::1');
    const { code, stderr } = await child.exit;
    t.is(code, 0, stderr);

    const v4 = run('http-server.mjs', { RUMP_SERVER: s.url, PORT: String(port), RUMPHIJACK: 'socket=inet' });
    t.is(await v4.line(/^listening /), `listening {"address":"0.0.0.0","family":"IPv4","port":${port}}`);
    t.is(await get(s.k.net, port, '/quit', '127.0.0.1'), 'hello /quit from 127.0.0.1');
    const r = await v4.exit;
    t.is(r.code, 0, r.stderr);
  } finally {
    await s.done();
  }
});

test('IPv6 clients under the hijack (net, new net.Socket, http.get, fetch, udp6) reach servers on ::1 that exist only in the kernel', async (t) => {
  const s = await served(NET6);
  const k = s.k;
  // Kernel ports; nothing listens on the host's ::1 (socket=inet goes there and is refused).
  const port = 7400;
  const tcp = k.net.createServer({ allowHalfOpen: true }, (sock) => {
    let got = '';
    sock.on('data', (d: Buffer) => (got += d));
    sock.on('end', () => sock.end(`echo:${got}`));
  });
  tcp.listen(port, '::1');
  await once(tcp, 'listening');
  const web = http.createServer((req, res) => res.end(`web:${req.url}`));
  k.net.listen(web, port + 1, '::1');
  await once(web, 'listening');
  const udp = k.dgram.createSocket('udp6');
  udp.on('message', (m, r) => udp.send(`echo:${m}`, r.port, r.address));
  udp.bind(port + 2, '::1');
  await once(udp, 'listening');
  try {
    const child = run('clients.mjs', { RUMP_SERVER: s.url, HOST: '::1', PORT: String(port) });
    const { code, stderr } = await child.exit;
    t.is(code, 0, stderr);
    t.deepEqual(child.lines, [...EXPECTED, 'done']);
    // socket=inet: IPv6 stays on the host, where nothing listens on those ports.
    const v4only = run('clients.mjs', { RUMP_SERVER: s.url, RUMPHIJACK: 'socket=inet', HOST: '::1', PORT: String(port), STOP_AFTER_NET: '1' });
    const r = await v4only.exit;
    t.is(r.code, 0, r.stderr);
    t.deepEqual(v4only.lines, ['net.connect: error ECONNREFUSED connect', 'done']);
  } finally {
    tcp.close();
    web.close();
    udp.close();
    await s.done();
  }
});

test('under the hijack the program\'s net.setDefaultAutoSelectFamily applies to its kernel connections', async (t) => {
  const s = await served(NET6);
  const port = 7500;
  const server = s.k.net.createServer((sock) => sock.end());
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  try {
    const child = run('autoselect.mjs', { RUMP_SERVER: s.url, PORT: String(port) });
    const { code, stderr } = await child.exit;
    t.is(code, 0, stderr);
    t.deepEqual(child.lines, ['default true', 'lookup dual.test all=false', 'connected 127.0.0.1']);
  } finally {
    server.close();
    await s.done();
  }
});

test('RUMPHIJACK socket= selectors as rumphijack spells them: inet, inet6, combinations, no-prefixes, none', async (t) => {
  const s = await served(NET6);
  try {
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'inet,inet6,route'],
      ['socket=inet', 'inet'],
      ['socket=inet6', 'inet6'],
      ['socket=inet:inet6', 'inet,inet6'],
      ['socket=all:noinet6', 'inet,local,route'],
      ['path=/rump,socket=all:nolocal:noinet', 'inet6,route'],
      ['socket=none', ''],
    ];
    const got = await Promise.all(cases.map(async ([spec]) => {
      const env: Record<string, string> = { RUMP_SERVER: s.url, HIJACK_URL: pathToFileURL(HIJACK).href };
      if (spec !== undefined) env.RUMPHIJACK = spec;
      const child = run('families.mjs', env);
      const { code, stderr } = await child.exit;
      t.is(code, 0, stderr);
      return child.lines.join('|');
    }));
    t.deepEqual(got, cases.map(([, want]) => `families ${want}`));
  } finally {
    await s.done();
  }
});
