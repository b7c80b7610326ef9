#!/usr/bin/env node
/*
 * `npm start`: the main job on an embedded default that needs no privileges.
 *
 *     kernel A (192.0.2.1) ── shmif0 ══ bus file ══ shmif0 ── kernel B (192.0.2.2)
 *
 * Two rump kernels in this process attach to one shmif bus file in a
 * temporary directory, ping each other with NetBSD's ping, exchange UDP
 * datagrams through the BSD socket calls, an ordinary http.createServer
 * listening on B is fetched by http.get from A over TCP across the bus,
 * and the bus is dumped to a pcap that tcpdump, tshark or Wireshark can open.
 */
import http from 'node:http';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rumpInit, AF_INET, SOCK_DGRAM, type RumpKernel } from '../index.js';
import { main as ping } from './rump.ping.js';
import { dumpBus } from '../shmif/dumpbus.js';

const out = (s: string): void => {
  process.stdout.write(s);
};

async function configure(k: RumpKernel, bus: string, addr: string): Promise<void> {
  await k.netconfig.ifcreate('shmif0');
  await k.netconfig.ifsetlinkstr('shmif0', bus);
  await k.netconfig.ipv4IfaddrCidr('shmif0', addr, 24);
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-'));
  const bus = join(dir, 'bus1');
  const pcap = join(dir, 'bus1.pcap');
  out(`rumpnet demo: two rump kernels in one process on the shmif bus ${bus}\n\n`);

  const a = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_shmif'] });
  const b = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_shmif'] });
  await configure(a, bus, '192.0.2.1');
  await configure(b, bus, '192.0.2.2');
  out('kernel A: shmif0 192.0.2.1/24    kernel B: shmif0 192.0.2.2/24\n\n');

  out('A$ rump.ping -c 3 -n 192.0.2.2\n');
  const io = { stdout: out, stderr: (s: string) => process.stderr.write(s), sys: a.sys };
  const pingStatus = await ping(['-c', '3', '-i', '0.2', '-n', '192.0.2.2'], io);
  out(`(exit ${pingStatus})\n\n`);

  out('B$ rump.ping -c 2 -n 192.0.2.1\n');
  const pingBack = await ping(['-c', '2', '-i', '0.2', '-n', '192.0.2.1'], { ...io, sys: b.sys });
  out(`(exit ${pingBack})\n\n`);

  // UDP: B serves an upper-casing echo on port 7; A sends three datagrams.
  const server = await b.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await b.sys.bind(server, { family: AF_INET, addr: '0.0.0.0', port: 7 });
  const serve = (async () => {
    for (let i = 0; i < 3; i++) {
      const { data, from } = await b.sys.recvfrom(server, 2048);
      const reply = new TextEncoder().encode(new TextDecoder().decode(data).toUpperCase());
      await b.sys.sendto(server, reply, 0, from);
    }
  })();
  const client = await a.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await a.sys.connect(client, { family: AF_INET, addr: '192.0.2.2', port: 7 });
  const local = await a.sys.getsockname(client);
  let udpOk = 0;
  for (const word of ['hello', 'rump', 'kernel']) {
    await a.sys.send(client, new TextEncoder().encode(word));
    const reply = new TextDecoder().decode(await a.sys.recv(client, 2048));
    out(`udp ${local.addr}:${local.port} -> 192.0.2.2:7 "${word}"  reply "${reply}"\n`);
    if (reply === word.toUpperCase()) udpOk++;
  }
  await serve;
  await a.sys.close(client);
  await b.sys.close(server);

  // HTTP: an ordinary Node http server listening in kernel B, fetched from kernel A.
  const web = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`hello from kernel B, you are ${req.socket.remoteAddress}, you asked for ${req.url}\n`);
  });
  await new Promise<void>((resolve) => b.net.listen(web, 80, '0.0.0.0', resolve));
  out('\nB: http.createServer(...) listening on 192.0.2.2:80 in kernel B\n');
  out('A$ http.get http://192.0.2.2/rump  (its TCP connection is kernel A\'s)\n');
  // No `agent`: http then calls createConnection itself (an Agent would dial from the host).
  const page = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.get(
      { host: '192.0.2.2', port: 80, path: '/rump', createConnection: (o) => a.net.createConnection(o) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
  });
  out(`HTTP ${page.status}: ${page.body}`);
  const httpOk = page.status === 200 && page.body === 'hello from kernel B, you are 192.0.2.1, you asked for /rump\n';
  await new Promise<void>((resolve) => web.close(() => resolve()));

  const dump = dumpBus(new Uint8Array(readFileSync(bus)), {});
  writeFileSync(pcap, dump.pcap);
  const frames = dump.text.split('\n').filter((l) => l.startsWith('packet ')).length;
  out(`\n${frames} frames on the bus; pcap written to ${pcap}\n`);
  out(`open it with: tshark -r ${pcap}   (or shmif_dumpbus -p out.pcap ${bus})\n`);

  await a.halt();
  await b.halt();
  const ok = pingStatus === 0 && pingBack === 0 && udpOk === 3 && httpOk;
  out(ok ? '\nall good\n' : '\nsomething failed (see above)\n');
  return ok ? 0 : 1;
}

main().then(
  (status) => process.exit(status),
  (err: unknown) => {
    process.stderr.write(`rumpnet demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
