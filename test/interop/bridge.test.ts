/*
 * Several rump kernels on one shmif bus reach Linux through one bridge:
 *
 *   network namespace rumpnet-test-<pid>-<n>
 *   ┌────────────────────────────────────────────────────────────────────────────┐
 *   │ K1 10.199.0.11 ─ shmif0 ═╗                                                 │
 *   │                          ╠═ bus ═ shmif0 ┐                                 │
 *   │ K2 10.199.0.12 ─ shmif0 ═╝               ├ B: bridge0 ═ virt0 ══ TAP ══ tun0│
 *   │                                          │   (no address)       Linux      │
 *   │                                          ┘                  10.199.0.1/24  │
 *   └────────────────────────────────────────────────────────────────────────────┘
 *
 * B is configured as a user would (`rump.ifconfig bridge0 create`,
 * `rump.brconfig bridge0 add shmif0 add virt0 up`); K1 and K2 through the
 * client library. Linux pings both kernels, they ping Linux, and TCP goes
 * both ways across the bridge; brconfig lists both members and the learned
 * addresses (Linux's MAC on virt0, the kernels' on shmif0).
 */
import test from 'ava';
import { Buffer } from 'node:buffer';
import { join } from 'node:path';
import { rumpClient, type RumpClient } from '../../index.js';
import { Netns, interopGate, linuxMac, ok } from './helpers.js';

const runnable = interopGate([['socat', 'socat']]);

test('two rump kernels on one bus reach Linux through one bridge (shmif0 + virt0): ping and TCP both ways', async (t) => {
  if (!runnable(t)) return;
  t.timeout(120_000);
  const ns = await Netns.create();
  const url = (s: string) => `unix://${join(ns.dir, s)}`;
  const bus = join(ns.dir, 'bus');
  const B = { RUMP_SERVER: url('b') };
  const clients: RumpClient[] = [];
  try {
    const servers = await Promise.all([
      ns.tool('rump_server', ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet', '-lrumpnet_shmif', '-lrumpnet_virtif', '-lrumpnet_bridge', B.RUMP_SERVER]),
      ns.tool('rump_server', ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet', '-lrumpnet_shmif', url('k1')]),
      ns.tool('rump_server', ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet', '-lrumpnet_shmif', url('k2')]),
    ]);
    for (const r of servers) ok(t, r, 'rump_server');

    // The bridge kernel, with the tools.
    const b = await rumpClient(B.RUMP_SERVER);
    clients.push(b);
    await b.netconfig.ifcreate('shmif0');
    await b.netconfig.ifsetlinkstr('shmif0', bus);
    await b.netconfig.ifup('shmif0');
    ok(t, await ns.tool('rump.ifconfig', ['virt0', 'create'], B), 'ifconfig virt0 create');
    await ns.must('ip', ['addr', 'add', '10.199.0.1/24', 'dev', 'tun0']);
    await ns.must('ip', ['link', 'set', 'tun0', 'up']);
    await b.netconfig.ifup('virt0');
    ok(t, await ns.tool('rump.ifconfig', ['bridge0', 'create'], B), 'ifconfig bridge0 create');
    ok(t, await ns.tool('rump.brconfig', ['bridge0', 'add', 'shmif0', 'add', 'virt0', 'up'], B), 'brconfig add');

    // The two kernels on the bus.
    const ks: RumpClient[] = [];
    for (const [s, addr] of [['k1', '10.199.0.11'], ['k2', '10.199.0.12']] as const) {
      const k = await rumpClient(url(s));
      clients.push(k);
      ks.push(k);
      await k.netconfig.ifcreate('shmif0');
      await k.netconfig.ifsetlinkstr('shmif0', bus);
      await k.netconfig.ipv4IfaddrCidr('shmif0', addr, 24);
    }

    // Linux pings each kernel; K1 pings Linux with NetBSD's ping.
    for (const addr of ['10.199.0.11', '10.199.0.12']) {
      const r = await ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '5', '-n', addr]);
      ok(t, r, `Linux pings ${addr}`);
    }
    ok(t, await ns.tool('rump.ping', ['-c', '2', '-i', '0.2', '-w', '10', '-n', '10.199.0.1'], { RUMP_SERVER: url('k1') }), 'K1 pings Linux');

    // TCP from each kernel to an echo server on Linux.
    const echo = await ns.start('socat', ['-d', '-d', 'TCP-LISTEN:7,reuseaddr,fork', 'EXEC:cat'], /listening on/);
    for (const [i, k] of ks.entries()) {
      const data = Buffer.alloc(200_000, 0x41 + i);
      const got = await new Promise<Buffer>((resolve, reject) => {
        const parts: Buffer[] = [];
        let n = 0;
        const c = k.net.connect(7, '10.199.0.1', () => c.write(data));
        c.on('data', (d: Buffer) => {
          parts.push(d);
          n += d.length;
          if (n >= data.length) c.end();
        });
        c.on('error', reject);
        c.on('close', () => resolve(Buffer.concat(parts)));
      });
      t.true(got.equals(data), `K${i + 1}: ${got.length} bytes echoed by Linux`);
    }
    await echo.stop();

    // TCP from Linux to K2.
    const srv = ks[1]!.net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => srv.listen(8000, () => r()));
    const fromLinux = await ns.exec('sh', ['-c', 'printf "hello across the bridge" | timeout 20 socat -t 5 - TCP:10.199.0.12:8000']);
    t.is(fromLinux.stdout, 'hello across the bridge', fromLinux.stderr);
    await new Promise<void>((r) => srv.close(() => r()));

    // The listing: both members, Linux learned on virt0, the kernels on shmif0.
    const list = await ns.tool('rump.brconfig', ['bridge0'], B);
    ok(t, list, 'brconfig bridge0');
    t.regex(list.stdout, /\t\tshmif0 flags=3<LEARNING,DISCOVER>\n/);
    t.regex(list.stdout, /\t\tvirt0 flags=3<LEARNING,DISCOVER>\n/);
    const tun0 = await linuxMac(ns, 'tun0');
    t.regex(list.stdout, new RegExp(`\\t\\t${tun0} virt0 \\d+ flags=0<>\\n`), list.stdout);
    t.is(list.stdout.match(/ shmif0 \d+ flags=0<>\n/g)?.length, 2, list.stdout);
    // virt0 lost its offloads while a member (a frame from Linux may leave by the bus).
    t.regex((await ns.tool('rump.ifconfig', ['virt0'], B)).stdout, /\n\tenabled=0\n|\n\tenabled=0x0\n/);
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
    await ns.destroy();
  }
});
