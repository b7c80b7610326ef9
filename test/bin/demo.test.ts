/*
 * `npm start` (bin/rumpnet-demo.ts): without privileges, two kernels on a
 * shmif bus ping each other, echo UDP, and an ordinary http.createServer on
 * kernel B answers http.get from kernel A over TCP across the bus; the pcap
 * it writes holds that TCP conversation. Exit 0 with "all good".
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** TCP segments in a pcap (Ethernet, IPv4) to or from `port`. */
function tcpSegments(pcap: Uint8Array, port: number): number {
  const v = new DataView(pcap.buffer, pcap.byteOffset, pcap.byteLength);
  let n = 0;
  for (let off = 24; off + 16 <= pcap.length; ) {
    const caplen = v.getUint32(off + 8, true);
    const f = off + 16;
    off = f + caplen;
    if (caplen < 54 || v.getUint16(f + 12) !== 0x0800 || pcap[f + 23] !== 6) continue;
    const tcp = f + 14 + (pcap[f + 14]! & 0xf) * 4;
    if (v.getUint16(tcp) === port || v.getUint16(tcp + 2) === port) n++;
  }
  return n;
}

test('npm start: ping, UDP and an http server on one kernel fetched by another, with the pcap; all good', async (t) => {
  t.timeout(100_000);
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import=tsx', join(root, 'bin/rumpnet-demo.ts')], { cwd: root, timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /3 packets transmitted, 3 packets received, 0\.0% packet loss/);
  t.regex(r.stdout, /reply "KERNEL"/);
  t.regex(r.stdout, /^HTTP 200: hello from kernel B, you are 192\.0\.2\.1, you asked for \/rump$/m);
  t.regex(r.stdout, /\nall good\n$/);
  const pcap = /pcap written to (\S+)/.exec(r.stdout)?.[1];
  t.truthy(pcap);
  try {
    const segs = tcpSegments(new Uint8Array(readFileSync(pcap!)), 80);
    t.true(segs >= 6, `the HTTP exchange is on the bus (${segs} TCP segments on port 80)`);
  } finally {
    rmSync(dirname(pcap!), { recursive: true, force: true });
  }
});
