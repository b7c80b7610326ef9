/*
 * Across processes, as a user runs it from the README: two rump_servers on
 * one bus file, configured with the tools, pinging each other; then the bus
 * dumped to a pcap that pcap-parser and tshark decode without a malformed
 * packet or a bad checksum.
 *
 *   rump_server unix://s1 (192.0.2.1) ── shmif0 ══ bus1 ══ shmif0 ── rump_server unix://s2 (192.0.2.2)
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
// The tools run from source in a scratch directory: name tsx by its full URL.
const TSX = import.meta.resolve('tsx');

interface Run { status: number; stdout: string; stderr: string }

function tool(cwd: string, name: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [`--import=${TSX}`, join(root, 'bin', `${name}.ts`), ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => done({ status: code ?? -1, stdout, stderr }));
  });
}

const LIBS = ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet', '-lrumpnet_shmif'];

test('two rump_servers on one bus, configured with the tools, ping each other', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-servers-'));
  const s1 = { RUMP_SERVER: 'unix://s1' };
  const s2 = { RUMP_SERVER: 'unix://s2' };
  try {
    // rump_server returns once it listens; the socket is owner-only.
    const up1 = await tool(dir, 'rump_server', [...LIBS, 'unix://s1']);
    t.is(up1.status, 0, up1.stderr);
    t.true(existsSync(join(dir, 's1')));
    t.is(statSync(join(dir, 's1')).mode & 0o777, 0o600);
    t.is((await tool(dir, 'rump_server', [...LIBS, 'unix://s2'])).status, 0);

    for (const [env, addr] of [[s1, '192.0.2.1/24'], [s2, '192.0.2.2/24']] as const) {
      t.is((await tool(dir, 'rump.ifconfig', ['shmif0', 'create'], env)).status, 0);
      t.is((await tool(dir, 'rump.ifconfig', ['shmif0', 'linkstr', 'bus1'], env)).status, 0);
      const r = await tool(dir, 'rump.ifconfig', ['shmif0', 'inet', addr], env);
      t.is(r.status, 0, r.stderr);
    }
    const busy = await tool(dir, 'rump.ifconfig', ['shmif0', 'linkstr', 'other'], s1);
    t.is(busy.status, 1);
    t.is(busy.stderr, 'rump.ifconfig: SIOCSLINKSTR: Device busy\n');

    const ping = await tool(dir, 'rump.ping', ['-c', '3', '-i', '0.2', '-n', '192.0.2.2'], s1);
    t.is(ping.status, 0, ping.stdout + ping.stderr);
    t.is(ping.stdout.match(/^64 bytes from 192\.0\.2\.2: icmp_seq=[012] ttl=255 time=/gm)?.length, 3);
    t.regex(ping.stdout, /3 packets transmitted, 3 packets received, 0\.0% packet loss/);

    const dead = await tool(dir, 'rump.ping', ['-c', '1', '-w', '1', '192.0.2.9'], s1);
    t.is(dead.status, 2);

    const ifc = await tool(dir, 'rump.ifconfig', ['shmif0'], s2);
    t.regex(ifc.stdout, /^shmif0: flags=0x8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n\tcapabilities=0x80080<TSO4,LRO>\n\tenabled=0x80080<TSO4,LRO>\n\taddress: b2:a0:[0-9a-f:]{11}\n\tlinkstr: bus1\n\tinet 192\.0\.2\.2\/24 broadcast 192\.0\.2\.255 flags 0x0\n$/);
    const arp = await tool(dir, 'rump.arp', ['-an'], s1);
    t.regex(arp.stdout, /\? \(192\.0\.2\.2\) at b2:a0:[0-9a-f:]{11} on shmif0/);
    const routes = await tool(dir, 'rump.netstat', ['-rn'], s1);
    t.regex(routes.stdout, /192\.0\.2\/24 +link#2 +UC /);
    t.is((await tool(dir, 'rump.sysctl', ['hw.ncpu'], s1)).stdout, 'hw.ncpu = 2\n');

    // The bus, dumped by our shmif_dumpbus, read by two independent decoders.
    const dump = await tool(dir, 'shmif_dumpbus', ['-p', 'bus1.pcap', 'bus1']);
    t.is(dump.status, 0, dump.stderr);
    t.regex(dump.stdout, /^bus version 3, lock: 0, generation: 0, firstoff: 0xfffe0, lastoff: 0x[0-9a-f]{4}\n/);

    const pcapParser = require('pcap-parser') as { parse(input: string): NodeJS.EventEmitter };
    const frames: Buffer[] = [];
    await new Promise<void>((ok, fail) => {
      const p = pcapParser.parse(join(dir, 'bus1.pcap'));
      p.on('packet', (pkt: { data: Buffer }) => frames.push(pkt.data));
      p.on('end', () => ok());
      p.on('error', fail);
    });
    const ethertypes = frames.map((f) => f.readUInt16BE(12));
    t.true(ethertypes.filter((e) => e === 0x0806).length >= 4, 'announcements, who-has and is-at');
    t.is(frames.filter((f) => f.readUInt16BE(12) === 0x0800 && f[23] === 1).length, 6, 'three echo pairs');
    // 192.0.2.9 never answers ARP, so its echo request never reaches the wire: only who-has.
    t.true(frames.some((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 1 && f.readUInt32BE(38) === 0xc0000209));

    const tshark = spawnSync('tshark', ['-r', join(dir, 'bus1.pcap'), '-o', 'ip.check_checksum:TRUE', '-T', 'fields',
      '-e', 'frame.protocols', '-e', 'ip.checksum.status', '-e', 'icmp.checksum.status', '-e', '_ws.malformed', '-e', '_ws.expert.severity'], { encoding: 'utf8' });
    t.is(tshark.error, undefined, 'tshark is installed (.ci/run installs it)');
    const rows = tshark.stdout.trim().split('\n').map((l) => l.split('\t'));
    t.is(rows.length, frames.length);
    t.true(rows.every((r) => r[0] === 'eth:ethertype:arp' || r[0] === 'eth:ethertype:ip:icmp:data'), rows.map((r) => r[0]).join(','));
    t.true(rows.every((r) => r[1] !== '0' && r[2] !== '0'), 'no bad IP or ICMP checksum (status 0 = bad)');
    t.true(rows.every((r) => !r[3] && !r[4]), 'no malformed packet, no expert warning');
  } finally {
    const h1 = await tool(dir, 'rump.halt', [], s1);
    const h2 = await tool(dir, 'rump.halt', [], s2);
    t.is(h1.status, 0);
    t.is(h2.status, 0);
    t.false(existsSync(join(dir, 's1')));
    t.false(existsSync(join(dir, 's2')));
    rmSync(dir, { recursive: true, force: true });
  }
});
