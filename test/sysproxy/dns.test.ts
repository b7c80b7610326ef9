/*
 * Names in a served kernel's world: rump_server -R/-H load its resolv.conf
 * and hosts table, rump.resolvconf shows and changes them through
 * RUMP_SERVER, and a rumpClient's dns/net resolve with the server kernel's
 * configuration over the server kernel's sockets:
 *
 *   this process: rumpClient ══ unix socket ══ rump_server ── kernel ── lo0 ── DNS server on 127.0.0.1:53 (kernel.dgram)
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { rumpClient, rumpInit, startRumpServer } from '../../index.js';
import { DnsType } from '../../net/wire/dns.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { tempDir } from './helpers.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function tool(name: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import=tsx', join('bin', `${name}.ts`), ...args], {
    cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  return new Promise((r) => child.once('close', (code) => r({ code, out, err })));
}

const NET = ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet'];

test('rump_server -R/-H load the kernel\'s resolver; rump.resolvconf shows and replaces it; a client resolves with it', async (t) => {
  const tmp = tempDir();
  const url = `unix://${join(tmp.dir, 'sock')}`;
  const env = { RUMP_SERVER: url };
  try {
    writeFileSync(join(tmp.dir, 'resolv.conf'), '# lab\nsearch lab.example\nnameserver 192.0.2.53\noptions timeout:1 attempts:3\n');
    writeFileSync(join(tmp.dir, 'hosts'), '127.0.0.1 localhost\n192.0.2.7 gw gw.lab.example\n');
    writeFileSync(join(tmp.dir, 'bad.conf'), 'nameserver 192.0.2.53\nnameserver ns.example\n');
    const bad = await tool('rump_server', [...NET, '-R', join(tmp.dir, 'bad.conf'), `unix://${join(tmp.dir, 'bad')}`]);
    t.is(bad.code, 1);
    t.is(bad.err, 'rump_server: resolv.conf line 2: bad nameserver "ns.example"\n');

    const up = await tool('rump_server', [...NET, '-R', join(tmp.dir, 'resolv.conf'), '-H', join(tmp.dir, 'hosts'), url]);
    t.is(up.code, 0, up.err);
    t.deepEqual(await tool('rump.resolvconf', ['-l'], env), {
      code: 0, out: 'search lab.example\nnameserver 192.0.2.53\noptions timeout:1 attempts:3\n', err: '',
    });
    t.deepEqual(await tool('rump.resolvconf', ['-H', '-l'], env), { code: 0, out: '127.0.0.1\tlocalhost\n192.0.2.7\tgw gw.lab.example\n', err: '' });
    t.is((await tool('rump.sysctl', ['net.resolv.nameserver'], env)).out, 'net.resolv.nameserver = 192.0.2.53\n');

    const c = await rumpClient(url);
    t.deepEqual(await c.dns.promises.lookup('gw'), { address: '192.0.2.7', family: 4 }, 'the server kernel\'s hosts table');
    await c.close();

    writeFileSync(join(tmp.dir, 'new.conf'), 'nameserver 192.0.2.54\nnameserver [2001:db8::53]:5353\n');
    t.is((await tool('rump.resolvconf', ['-a', join(tmp.dir, 'new.conf')], env)).code, 0);
    t.is((await tool('rump.resolvconf', ['-l'], env)).out, 'nameserver 192.0.2.54\nnameserver [2001:db8::53]:5353\n');
    t.is((await tool('rump.resolvconf', ['-H', '-d'], env)).code, 0);
    t.is((await tool('rump.resolvconf', ['-H', '-l'], env)).out, '');
    const usage = await tool('rump.resolvconf', ['-l', '-d'], env);
    t.is(usage.code, 1);
    t.regex(usage.err, /^usage: rump\.resolvconf \[-H\] -l\n/);
    const badAdd = await tool('rump.resolvconf', ['-H', '-a', join(tmp.dir, 'resolv.conf')], env);
    t.deepEqual(badAdd, { code: 1, out: '', err: 'rump.resolvconf: hosts line 2: bad address "search"\n' });
    t.is((await tool('rump.halt', [], env)).code, 0);
  } finally {
    tmp.remove();
  }
});

test('a rumpClient\'s dns and net resolve in the served kernel: its DNS server, its sockets', async (t) => {
  const tmp = tempDir();
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet'], resolvConf: 'nameserver 127.0.0.1\nsearch lab.example\n' });
  const server = await startRumpServer(k, `unix://${join(tmp.dir, 'sock')}`);
  const dns = startDnsServer(k, { zone: { 'www.lab.example': [{ type: DnsType.A, data: '127.0.0.1' }] } });
  const echo = k.net.createServer((s) => s.end('hi from the kernel\n')).listen(7);
  try {
    const c = await rumpClient(server.url);
    t.deepEqual(await c.dns.promises.resolve4('www.lab.example'), ['127.0.0.1']);
    t.deepEqual(c.dns.getServers(), ['127.0.0.1'], 'getServers gives the configuration last read from the kernel');
    const got = await new Promise<string>((r, reject) => {
      let b = '';
      const s = c.net.connect(7, 'www');
      s.on('data', (d: Buffer) => (b += d.toString()));
      s.on('end', () => r(b));
      s.on('error', reject);
    });
    t.is(got, 'hi from the kernel\n');
    // net.connect by name asks with AI_ADDRCONFIG as Node does: the served kernel has no IPv6
    // address (no net_netinet6), so no AAAA question, as in process.
    t.deepEqual(dns.log, ['udp A www.lab.example', 'udp A www.lab.example']);
    // Without the hint both are asked, as getaddrinfo does.
    t.deepEqual(await c.dns.promises.lookup('www', { all: true }), [{ address: '127.0.0.1', family: 4 }]);
    t.deepEqual(dns.log.slice(2).sort(), ['udp A www.lab.example', 'udp AAAA www.lab.example']);
    await c.close();
  } finally {
    dns.close();
    echo.close();
    await server.close();
    await k.halt();
    tmp.remove();
  }
});

test('AI_ADDRCONFIG follows the served kernel: with net_netinet6 (lo0 has ::1) net.connect by name asks for AAAA too', async (t) => {
  const tmp = tempDir();
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_netinet6'], resolvConf: 'nameserver 127.0.0.1\n' });
  const server = await startRumpServer(k, `unix://${join(tmp.dir, 'sock')}`);
  const dns = startDnsServer(k, { zone: { 'www.lab.example': [{ type: DnsType.A, data: '127.0.0.1' }] } });
  const echo = k.net.createServer((s) => s.end('hi\n')).listen(7, '127.0.0.1');
  try {
    const c = await rumpClient(server.url);
    const got = await new Promise<string>((r, reject) => {
      let b = '';
      const s = c.net.connect(7, 'www.lab.example');
      s.on('data', (d: Buffer) => (b += d.toString()));
      s.on('end', () => r(b));
      s.on('error', reject);
    });
    t.is(got, 'hi\n');
    t.deepEqual([...dns.log].sort(), ['udp A www.lab.example', 'udp AAAA www.lab.example']);
    await c.close();
  } finally {
    dns.close();
    echo.close();
    await server.close();
    await k.halt();
    tmp.remove();
  }
});

test('a remote query that times out ends on the client\'s clock, and its socket on the server is closed', async (t) => {
  const tmp = tempDir();
  // A name server that reads queries and never answers.
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet'], resolvConf: 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' });
  const server = await startRumpServer(k, `unix://${join(tmp.dir, 'sock')}`);
  const silent = startDnsServer(k, { zone: {}, silent: true });
  try {
    const c = await rumpClient(server.url);
    const e = await c.dns.promises.resolve4('www.lab.example').catch((x: unknown) => x);
    t.like(e, { code: 'ETIMEOUT', syscall: 'queryA' });
    const l = await c.dns.promises.lookup('www.lab.example').catch((x: unknown) => x);
    t.like(l, { code: 'EAI_AGAIN', syscall: 'getaddrinfo' });
    t.deepEqual(silent.log, ['udp A www.lab.example', 'udp A www.lab.example', 'udp AAAA www.lab.example']);
    await c.sys.sysctl('kern.ostype'); // after the closes the client sent
    const proc = [...k.procs].find((p) => p !== k.sys)!;
    t.deepEqual(proc.openFds(), [], 'the client process has no query sockets left in the kernel');
    await c.close();
  } finally {
    silent.close();
    await server.close();
    await k.halt();
    tmp.remove();
  }
});
