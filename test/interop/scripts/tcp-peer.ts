/*
 * The rumpnet end of the TCP interop tests (tcp.test.ts): a rump kernel in
 * this process whose virt0 is on a TAP device the test made, driven through
 * stdin, one JSON command a line; each reply is one JSON line on stdout.
 *
 *   tcp-peer.ts TAPNAME ADDR/PREFIX
 *     → {"event":"ready","mac":"b2:0a:…"}   once virt0 is on TAPNAME with ADDR
 *
 *   {"op":"recv","port":P}
 *     → {"event":"listening","port":P}, then after the peer's FIN
 *       {"event":"received","bytes":N,"sha256":H}          (kernel.net server)
 *   {"op":"send","host":A,"port":P,"bytes":N}
 *     → {"event":"sent","bytes":N,"sha256":H}  once the connection closed
 *       (the helpers' pattern, written with backpressure, then end())
 *   {"op":"get","host":A,"port":P,"path":"/x"}
 *     → {"event":"response","status":…,"type":…,"length":…,"bytes":N,"sha256":H,"body":…}
 *       (http.get with createConnection: kernel.net; body only when short)
 *   {"op":"stats"}
 *     → {"event":"stats","tcp":{…},"virt":{…},"if":{…}}
 *   end of stdin → halt the kernel and exit 0
 *
 * A command that fails answers {"event":"error","message":…} and the peer
 * goes on. Everything runs on the kernel's own Node faces, as an
 * application would use them.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { createInterface } from 'node:readline';

import { AF_INET, SOCK_DGRAM, rumpInit } from '../../../index.js';
import { netstack } from '../../../net/netstack.js';
import { PATTERN_CHUNK, pattern } from '../helpers.js';

const [tapName, cidr, offloads] = process.argv.slice(2);
if (tapName === undefined || cidr === undefined || !/^[\d.]+\/\d+$/.test(cidr) || (offloads !== undefined && offloads !== 'no-offloads')) {
  process.stderr.write('usage: tcp-peer.ts TAPNAME ADDR/PREFIX [no-offloads]\n');
  process.exit(2);
}
const [addr, prefix] = cidr.split('/') as [string, string];

const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_virtif'], env: {} });
await k.netconfig.ifcreate('virt0');
await k.netconfig.ifsetlinkstr('virt0', tapName);
await k.netconfig.ipv4IfaddrCidr('virt0', addr, Number(prefix));
const ifp = netstack(k).ifs.list.find((i) => i.name === 'virt0')!;
// no-offloads: every checksum and segment made in software on both sides
// (`ifconfig virt0 -tso4 -tcp4csum -tcp6csum-rx -lro`).
if (offloads === 'no-offloads') {
  const s = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await k.sys.ioctl(s, 'SIOCSIFCAP', { name: 'virt0', capenable: 0 });
  await k.sys.close(s);
}

const say = (obj: Record<string, unknown>): void => void process.stdout.write(JSON.stringify(obj) + '\n');
say({ event: 'ready', mac: [...ifp.lladdr!].map((b) => b.toString(16).padStart(2, '0')).join(':') });

/** Accept one connection on `port`, hash everything until its FIN. */
function recv(port: number): Promise<void> {
  return new Promise((done, fail) => {
    const server = k.net.createServer((sock) => {
      server.close();
      const hash = createHash('sha256');
      let bytes = 0;
      sock.on('data', (d: Buffer) => {
        bytes += d.length;
        hash.update(d);
      });
      sock.on('end', () => {
        say({ event: 'received', bytes, sha256: hash.digest('hex') });
        sock.end();
      });
      sock.on('close', () => done());
      sock.on('error', fail);
    });
    server.on('error', fail);
    server.listen(port, addr, () => say({ event: 'listening', port }));
  });
}

/** Connect, write `bytes` of the pattern, end, and wait for the close. */
function send(host: string, port: number, bytes: number): Promise<void> {
  return new Promise((done, fail) => {
    const hash = createHash('sha256');
    const sock = k.net.createConnection({ host, port });
    let off = 0;
    const pump = (): void => {
      while (off < bytes) {
        const chunk = pattern(off, Math.min(PATTERN_CHUNK, bytes - off));
        hash.update(chunk);
        off += chunk.length;
        if (!sock.write(chunk)) {
          sock.once('drain', pump);
          return;
        }
      }
      sock.end();
    };
    sock.on('connect', pump);
    sock.on('error', fail);
    // The Linux end closes once it read our FIN: the data all arrived.
    sock.on('close', (hadError: boolean) => {
      if (!hadError) {
        say({ event: 'sent', bytes: off, sha256: hash.digest('hex') });
        done();
      }
    });
    sock.resume();
  });
}

function get(host: string, port: number, path: string): Promise<void> {
  return new Promise((done, fail) => {
    const req = http.get({ host, port, path, createConnection: (o: object) => k.net.createConnection(o as never) as never }, (res) => {
      const hash = createHash('sha256');
      const parts: Buffer[] = [];
      let bytes = 0;
      res.on('data', (d: Buffer) => {
        bytes += d.length;
        hash.update(d);
        if (bytes <= 4096) parts.push(d);
      });
      res.on('end', () => {
        say({
          event: 'response',
          status: res.statusCode,
          type: res.headers['content-type'] ?? null,
          length: res.headers['content-length'] ?? null,
          bytes,
          sha256: hash.digest('hex'),
          body: bytes <= 4096 ? Buffer.concat(parts).toString('latin1') : null,
        });
        done();
      });
      res.on('error', fail);
    });
    req.on('error', fail);
  });
}

async function command(line: string): Promise<void> {
  const c = JSON.parse(line) as { op: string; port?: number; host?: string; bytes?: number; path?: string };
  switch (c.op) {
    case 'recv':
      return recv(c.port!);
    case 'send':
      return send(c.host!, c.port!, c.bytes!);
    case 'get':
      return get(c.host!, c.port!, c.path!);
    case 'stats':
      say({
        event: 'stats',
        tcp: k.sysctl.get('net.inet.tcp.stats'),
        virt: k.sysctl.get('net.virtif.stats'),
        if: { ...ifp.stats },
      });
      return;
    default:
      throw new Error(`unknown op ${JSON.stringify(c.op)}`);
  }
}

// Commands run one after another, in the order they came.
let queue = Promise.resolve();
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  queue = queue.then(() => command(line)).catch((e: unknown) => say({ event: 'error', message: e instanceof Error ? e.message : String(e) }));
});
rl.on('close', () => {
  void queue.then(async () => {
    await k.halt();
    process.exit(0);
  });
});
