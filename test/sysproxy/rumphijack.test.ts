/*
 * librumphijack.so: unmodified host programs (nc, curl, socat, python3)
 * whose socket calls go to a rump kernel through LD_PRELOAD, as NetBSD's
 * librumphijack does.
 *
 *   host program ── LD_PRELOAD=librumphijack.so ══ unix socket ══ startRumpServer ── kernel (this process)
 *
 * The kernel runs in this process, so every check looks at both sides: what
 * the program did, and that it happened in the kernel (an in-kernel peer, the
 * kernel's DNS server) and not on the host (the host has nothing on the port).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { rumpInit, startRumpServer, type RumpKernel } from '../../index.js';
import { DnsType } from '../../net/wire/dns.js';
import { startDnsServer } from '../helpers/dns-server.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const LIB = join(root, 'hypercall/native/build/Release/librumphijack.so');

function have(prog: string): boolean {
  return (process.env['PATH'] ?? '').split(':').some((d) => existsSync(join(d, prog)));
}

/** Run `argv` under the hijack (or not: env LD_PRELOAD ''), feeding `input`; killed after 20 s. */
function run(argv: string[], env: Record<string, string>, input = '', cwd?: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  child.stdin.on('error', () => {});
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((r) => child.once('close', (code) => (clearTimeout(timer), r({ code, out, err }))));
}

interface Served {
  k: RumpKernel;
  env: Record<string, string>;
  dir: string;
  close(): Promise<void>;
}

async function served(): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'rumphijack-'));
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_netinet6'] });
  const server = await startRumpServer(k, `unix://${join(dir, 'sock')}`);
  return {
    k, dir,
    env: { RUMP_SERVER: server.url, LD_PRELOAD: LIB },
    async close() {
      await server.close();
      await k.halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether something on the host answers on 127.0.0.1:port. */
function hostAnswers(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), r(true)));
    s.once('error', () => r(false));
  });
}

/** Connect to the kernel from inside it, send `data`, collect what comes back until the peer ends. */
function kernelExchange(k: RumpKernel, port: number, data: string): Promise<string> {
  return new Promise((r, reject) => {
    let b = '';
    const s = k.net.connect(port, '127.0.0.1', () => s.end(data));
    s.setEncoding('utf8').on('data', (d: string) => (b += d));
    s.on('end', () => r(b));
    s.on('error', reject);
  });
}

/**
 * Connect to the kernel's port from inside it, retrying until a listener is up (the program
 * under the hijack started); with `data`, send it and end, else just go away again.
 */
async function kernelListening(k: RumpKernel, port: number, data?: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const ok = await new Promise<boolean>((r) => {
      const c = k.net.connect(port, '127.0.0.1', () => (data === undefined ? (c.destroy(), r(true)) : c.end(data, () => r(true))));
      c.on('data', () => {});
      c.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on the kernel's port ${port}`);
}

const built = existsSync(LIB);
const need = (progs: string[]) => (built && progs.every(have) ? test : test.skip);
if (!built) console.log(`rumphijack: ${LIB} is not built (Linux only): its tests skip`);
for (const p of ['nc', 'curl', 'socat', 'python3']) if (!have(p)) console.log(`rumphijack: ${p} is not installed: its tests skip`);

need(['nc'])('nc under the hijack connects to a server in the kernel and sends it stdin (-N: shutdown at EOF)', async (t) => {
  const s = await served();
  let got = '';
  const srv = s.k.net.createServer((c) => {
    c.setEncoding('utf8').on('data', (d: string) => (got += d));
    c.on('end', () => c.end('bye from the kernel\n'));
  }).listen(7007, '127.0.0.1');
  try {
    t.false(await hostAnswers(7007), 'nothing listens on the host');
    const r = await run(['nc', '-N', '127.0.0.1', '7007'], s.env, 'hello kernel\n');
    t.is(r.code, 0, r.err);
    t.is(got, 'hello kernel\n');
    t.is(r.out, 'bye from the kernel\n');
  } finally {
    srv.close();
    await s.close();
  }
});

need(['nc'])('nc -l under the hijack listens in the kernel; a kernel socket connects to it', async (t) => {
  const s = await served();
  try {
    const nc = run(['nc', '-l', '127.0.0.1', '7009'], s.env);
    await kernelListening(s.k, 7009, 'to nc\n');
    const r = await nc;
    t.is(r.code, 0, r.err);
    t.is(r.out, 'to nc\n');
    t.false(await hostAnswers(7009));
  } finally {
    await s.close();
  }
});


need(['curl', 'python3'])('python3 -m http.server and curl, both under the hijack, talk HTTP inside the kernel', async (t) => {
  const s = await served();
  writeFileSync(join(s.dir, 'index.html'), '<p>served from a rump kernel</p>\n');
  const py = spawn('python3', ['-m', 'http.server', '--bind', '127.0.0.1', '8008'], { cwd: s.dir, env: { ...process.env, ...s.env }, stdio: 'ignore' });
  try {
    await kernelListening(s.k, 8008);
    const r = await run(['curl', '-sS', '--max-time', '10', 'http://127.0.0.1:8008/index.html'], s.env);
    t.is(r.code, 0, r.err);
    t.is(r.out, '<p>served from a rump kernel</p>\n');
    // The kernel's own socket gets the same page: the server is in the kernel...
    t.regex(await kernelExchange(s.k, 8008, 'GET /index.html HTTP/1.0\r\n\r\n'), /^HTTP\/1\.0 200 OK\r\n[^]*served from a rump kernel/);
    // ...and not on the host.
    t.false(await hostAnswers(8008));
  } finally {
    py.kill();
    await s.close();
  }
});

need(['socat'])('socat under the hijack: TCP-LISTEN in the kernel to stdout', async (t) => {
  const s = await served();
  try {
    const so = run(['socat', '-u', 'TCP-LISTEN:7010,bind=127.0.0.1,reuseaddr', 'STDOUT'], s.env);
    await kernelListening(s.k, 7010, 'via socat\n');
    const r = await so;
    // The probe connections of kernelListeningOnce that found no listener never reached socat.
    t.is(r.code, 0, r.err);
    t.is(r.out, 'via socat\n');
    const c = await run(['socat', '-u', 'STDIN', 'TCP:127.0.0.1:7011'], s.env, 'x');
    t.not(c.code, 0, 'a connect to a kernel port with no listener is refused');
    t.regex(c.err, /Connection refused/);
  } finally {
    await s.close();
  }
});

need(['curl', 'python3'])('names resolve in the kernel: its hosts table and its DNS server, never the host\'s', async (t) => {
  const s = await served();
  await s.k.sys.sysctlSet('net.resolv.nameserver', '127.0.0.1');
  await s.k.sys.sysctlSet('net.resolv.search', 'lab.example');
  await s.k.sys.sysctlSet('net.resolv.hosts', '127.0.0.1 web.test');
  const dns = startDnsServer(s.k, { zone: { 'www.lab.example': [{ type: DnsType.A, data: '127.0.0.1' }] } });
  writeFileSync(join(s.dir, 'index.html'), 'named\n');
  const py = spawn('python3', ['-m', 'http.server', '--bind', '127.0.0.1', '8009'], { cwd: s.dir, env: { ...process.env, ...s.env }, stdio: 'ignore' });
  try {
    await kernelListening(s.k, 8009);
    const hosts = await run(['curl', '-sS', '--max-time', '10', 'http://web.test:8009/index.html'], s.env);
    t.is(hosts.out, 'named\n', hosts.err);
    t.deepEqual(dns.log, [], 'the hosts table answered');
    const viaDns = await run(['curl', '-sS', '--max-time', '10', '-4', 'http://www:8009/index.html'], s.env);
    t.is(viaDns.out, 'named\n', viaDns.err);
    t.true(dns.log.includes('udp A www.lab.example'), `the kernel's DNS server was asked (search list): ${dns.log.join(', ')}`);
    const none = await run(['curl', '-sS', '--max-time', '10', 'http://nowhere.invalid:8009/'], s.env);
    t.is(none.code, 6, 'curl: could not resolve host');
    t.true(dns.log.some((l) => l.includes('nowhere.invalid')));
  } finally {
    dns.close();
    py.kill();
    await s.close();
  }
});

need(['python3'])('epoll, select and poll over a kernel socket and a host pipe together', async (t) => {
  const s = await served();
  const script = join(s.dir, 'wait.py');
  // One kernel socket (a UDP socket bound in the kernel) and one host pipe in each kind of
  // wait: first the pipe is ready, then the socket, then neither (a timeout).
  writeFileSync(script, `
import os, select, selectors, socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(('127.0.0.1', 7020))
r, w = os.pipe()
out = []
for kind in ('epoll', 'poll', 'select'):
    sel = {'epoll': selectors.EpollSelector, 'poll': selectors.PollSelector, 'select': selectors.SelectSelector}[kind]()
    sel.register(u, selectors.EVENT_READ, 'udp')
    sel.register(r, selectors.EVENT_READ, 'pipe')
    os.write(w, b'p')
    out.append(kind + ' ' + ','.join(sorted(k.data for k, _ in sel.select(5))))
    os.read(r, 1)
    v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    v.sendto(b'd', ('127.0.0.1', 7020))
    out.append(kind + ' ' + ','.join(sorted(k.data for k, _ in sel.select(5))))
    u.recvfrom(10)
    v.close()
    out.append(kind + ' ' + (','.join(k.data for k, _ in sel.select(0.2)) or 'timeout'))
    sel.close()
print(' | '.join(out))
`);
  try {
    const r = await run(['python3', script], s.env);
    t.is(r.code, 0, r.err);
    t.is(r.out.trim(), [
      'epoll pipe', 'epoll udp', 'epoll timeout',
      'poll pipe', 'poll udp', 'poll timeout',
      'select pipe', 'select udp', 'select timeout',
    ].join(' | '));
  } finally {
    await s.close();
  }
});

need(['nc'])('RUMPHIJACK=socket=none leaves sockets on the host; a bad RUMP_SERVER is named on stderr', async (t) => {
  const s = await served();
  let hostGot = '';
  const host = net.createServer((c) => c.setEncoding('utf8').on('data', (d: string) => (hostGot += d)));
  await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
  const port = (host.address() as net.AddressInfo).port;
  try {
    const r = await run(['nc', '-N', '127.0.0.1', String(port)], { ...s.env, RUMPHIJACK: 'socket=none' }, 'to the host\n');
    t.is(r.code, 0, r.err);
    await new Promise((res) => setTimeout(res, 100));
    t.is(hostGot, 'to the host\n');
    const bad = await run(['nc', '-N', '127.0.0.1', '7'], { ...s.env, RUMP_SERVER: `unix://${join(s.dir, 'nothing')}` }, 'x');
    t.not(bad.code, 0);
    t.regex(bad.err, /^rumphijack: cannot reach RUMP_SERVER unix:\/\/.*nothing: No such file or directory$/m);
    const badSpec = await run(['nc', '-N', '127.0.0.1', '7'], { ...s.env, RUMPHIJACK: 'socket=bogus' }, 'x');
    t.is(badSpec.code, 1);
    t.regex(badSpec.err, /^rumphijack: RUMPHIJACK: unknown socket family in "socket=bogus"$/m);
  } finally {
    host.close();
    await s.close();
  }
});

need(['nc'])('a server that goes away ends the program with a message (RUMPHIJACK_RETRYCONNECT=die), or fails its calls (once)', async (t) => {
  for (const mode of ['die', 'once']) {
    const s = await served();
    try {
      // nc is connected to a kernel server that took its byte and says nothing; then the server halts under it.
      const connected = new Promise<void>((r) => s.k.net.createServer((c) => c.once('data', () => r())).listen(7030, '127.0.0.1'));
      const nc = run(['nc', '127.0.0.1', '7030'], { ...s.env, RUMPHIJACK_RETRYCONNECT: mode }, 'x');
      await connected;
      await s.close();
      const r = await nc; // it ends either way, rather than waiting on a kernel that is gone
      if (mode === 'die') t.is(r.code, 1);
      if (mode === 'die') t.regex(r.err, /^rumphijack: lost RUMP_SERVER unix:\/\/.* \(the server closed the connection\); exiting/m);
      else t.notRegex(r.err, /exiting/, 'once: the program goes on, its kernel socket hung up');
    } finally {
      await s.close().catch(() => {});
    }
  }
});

test('rumphijack: -p prints the library; bad arguments get a usage line and status 1', async (t) => {
  const tool = (args: string[], env: Record<string, string> = {}) =>
    run([process.execPath, '--import=tsx', join(root, 'bin/rumphijack.ts'), ...args], env);
  const usage = await tool([]);
  t.is(usage.code, 1);
  t.regex(usage.err, /^usage: rumphijack -p\n/);
  t.is((await tool(['-x'])).code, 1);
  if (!built) return t.pass('librumphijack.so is not built here');
  t.deepEqual(await tool(['-p']), { code: 0, out: `${LIB}\n`, err: '' });
  const noServer = await tool(['true'], { RUMP_SERVER: '' });
  t.is(noServer.code, 1);
  t.is(noServer.err, 'rumphijack: RUMP_SERVER is not set\n');
  const missing = await tool(['no-such-program-here'], { RUMP_SERVER: 'unix:///nonexistent' });
  t.is(missing.code, 127);
  t.is(missing.err, 'rumphijack: no-such-program-here: not found\n');
});

/*
 * The programs NetBSD compiles for some tests/net scripts (ifconf, mcast, tcp_shutdown,
 * inpcb_bind), written again in Python (test/fixtures/hijack/) and run under the hijack.
 * in_cksum has no socket calls to hijack: the checksum's own tests are test/wire/.
 */
const programs: Record<string, string[]> = {
  ifconf: ['lo0 127.0.0.1'],
  mcast: ['v4 joined', 'v4 left', 'v6 joined', 'v6 left'],
  tcp_shutdown: [
    'unconnected shutdown: ENOTCONN', "peer reads: b'before' b''", 'send after SHUT_WR: EPIPE',
    "read after own SHUT_WR: b'still open the other way'", "recv after SHUT_RD: b''", 'bad how: EINVAL',
  ],
  inpcb_bind: [
    'loopback ok', 'same again EADDRINUSE', 'any, same port EADDRINUSE', 'any, same port, SO_REUSEADDR ok',
    'not ours EADDRNOTAVAIL', 'multicast, udp ok', 'multicast, tcp EAFNOSUPPORT', 'ephemeral ok True', 'v6 loopback ok',
    'v6 not ours EADDRNOTAVAIL', 'v6 any on a port v4 holds ok',
  ],
};
for (const [name, want] of Object.entries(programs)) {
  need(['python3'])(`NetBSD's ${name} test program, in Python, under the hijack`, async (t) => {
    const s = await served();
    try {
      const r = await run(['python3', join(root, 'test/fixtures/hijack', `${name}.py`)], s.env);
      t.is(r.code, 0, r.err);
      t.deepEqual(r.out.trim().split('\n'), want);
    } finally {
      await s.close();
    }
  });
}
