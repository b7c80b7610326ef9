/*
 * TCP over IPv6 from a rump kernel to Linux with virt0's IPv6 offloads
 * (IFCAP_TSOv6, IFCAP_CSUM_TCPv6_Tx: one 64 KB frame with gso_type TCPV6
 * and the checksum left to the host), then with them off (`-tso6
 * -tcp6csum-tx`), in a network namespace the test makes and removes:
 *
 *   Linux fd00:199::1/64 on tun0 ═══ TAP ═══ virt0 fd00:199::2/64 (rump_server)
 *   socat [fd00:199::1]:5002 | sha256sum  ◄── 16 MiB from kernel.net (rumpClient)
 *
 * Linux checks every segment's checksum, so a wrong pseudo-header sum or a
 * mis-cut segment would stall the transfer or change the hash.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rumpClient, type RumpClient } from '../../index.js';
import { readPcap } from '../../net/wire/pcap.js';
import { cksumAdd, cksumFold } from '../../net/wire/cksum.js';
import { ip6Cksum } from '../../net/wire/ipv6.js';
import { Netns, interopGate, ok, rumpOnTun } from './helpers.js';

const runnable = interopGate([['socat', 'socat'], ['sha256sum', 'coreutils']]);
const BYTES = 16 << 20;

function pattern(): { data: Buffer; sha: string } {
  const data = Buffer.alloc(BYTES);
  for (let i = 0; i < BYTES; i++) data[i] = (i * 31 + (i >>> 12)) & 0xff;
  return { data, sha: createHash('sha256').update(data).digest('hex') };
}

interface Seen {
  /** TCP/IPv6 frames from the kernel carrying data, and those longer than the MTU allows (TSO). */
  data: number;
  big: number;
  /** Frames whose checksum field is the pseudo-header sum the host completes (NEEDS_CSUM). */
  partial: number;
  /** Both: a complete checksum that happens to equal the pseudo-header sum. */
  either: number;
  /** Frames with a complete, correct checksum. */
  full: number;
}

/** What the kernel put on the TAP: tcpdump sees frames as the kernel wrote them, before the host cuts or sums them. */
function audit(pcap: string): Seen {
  const seen: Seen = { data: 0, big: 0, partial: 0, full: 0, either: 0 };
  for (const r of readPcap(readFileSync(pcap)).records) {
    const f = r.data;
    if (f.length < 74 || f[12] !== 0x86 || f[13] !== 0xdd || f[20] !== 6 || f[22] !== 0xfd || f[37] !== 2) continue;
    const plen = (f[18]! << 8) | f[19]!;
    const th = 54;
    if (plen <= ((f[th + 12]! >>> 4) << 2)) continue;
    seen.data++;
    if (f.length > 1514) seen.big++;
    const field = (f[th + 16]! << 8) | f[th + 17]!;
    // A complete checksum equals the pseudo-header sum by chance once in
    // 65,536 frames (a run has about 11,600): such a frame is both, and counts
    // for either (`either`), not as a frame left to the host.
    const partial = field === cksumFold(cksumAdd(plen + 6, f, 22, 32));
    const full = ip6Cksum(f, th, plen, 6, f, 22, f, 38) === 0;
    if (partial && full) seen.either++;
    else if (partial) seen.partial++;
    else if (full) seen.full++;
  }
  return seen;
}

async function sendTo(ns: Netns, k: RumpClient, data: Buffer, pcap: string): Promise<string> {
  const tcpdump = await ns.start('tcpdump', ['-i', 'tun0', '-n', '-U', '-B', '65536', '-s', '0', '-w', pcap, 'ip6 and tcp'], /listening on tun0/);
  const sink = await ns.start('sh', ['-c', 'timeout 60 socat -d -d -u TCP6-LISTEN:5002,bind=[fd00:199::1],reuseaddr STDOUT | sha256sum'], /listening on/);
  await new Promise<void>((resolve, reject) => {
    const c = k.net.connect(5002, 'fd00:199::1', () => c.end(data));
    c.on('error', reject);
    c.on('close', () => resolve());
  });
  await sink.wait();
  await tcpdump.stop();
  return sink.stdout.split(' ')[0]!;
}

test('IPv6 bulk to Linux over TAP: TSO6 frames cut by the host, checksums left to it; the same bytes with -tso6 -tcp6csum-tx', async (t) => {
  if (!runnable(t)) return;
  t.timeout(110_000);
  const ns = await Netns.create();
  let k: RumpClient | null = null;
  try {
    await ns.must('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']);
    const env = await rumpOnTun(t, ns, ['-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet', '-lrumpnet_netinet6', '-lrumpnet_virtif'], {
      linux: '10.199.0.1/24', rump: '10.199.0.2/24', linux6: 'fd00:199::1/64', rump6: 'fd00:199::2/64',
    });
    k = await rumpClient(env.RUMP_SERVER);
    const { data, sha } = pattern();
    const stats = async () => (await k!.sys.sysctl('net.virtif.stats')) as Record<string, number>;

    t.is(await sendTo(ns, k, data, join(ns.dir, 'on.pcap')), sha, 'with offloads: every byte, in order');
    const on = await stats();
    t.true(on.txtso! > 0, `TSO6 frames went to the host: ${JSON.stringify(on)}`);
    const a = audit(join(ns.dir, 'on.pcap'));
    t.true(a.big > 0, `frames of several segments: ${JSON.stringify(a)}`);
    t.is(a.partial + a.either, a.data, `every data frame left its checksum to the host, with the right pseudo-header sum: ${JSON.stringify(a)}`);

    ok(t, await ns.tool('rump.ifconfig', ['virt0', '-tso6', '-tcp6csum-tx'], env), '-tso6 -tcp6csum-tx');
    t.notRegex((await ns.tool('rump.ifconfig', ['virt0'], env)).stdout, /enabled=[^\n]*(TSO6|TCP6CSUM_Tx)/);
    t.is(await sendTo(ns, k, data, join(ns.dir, 'off.pcap')), sha, 'without: every byte, in order');
    const b = audit(join(ns.dir, 'off.pcap'));
    t.true(b.data > 0);
    t.is(b.big, 0, 'no frame beyond the MTU');
    t.is(b.full + b.either, b.data, `every checksum complete and right: ${JSON.stringify(b)}`);
    const off = await stats();
    t.is(off.txtso, on.txtso, 'no TSO frame with -tso6');
    t.is(off.txcsum, on.txcsum, 'no checksum left to the host with -tcp6csum-tx');
  } finally {
    await k?.close().catch(() => undefined);
    await ns.destroy();
  }
});
