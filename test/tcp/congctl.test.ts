/*
 * Congestion control chosen per socket (TCP_CONGESTION) and by sysctl
 * (net.inet.tcp.congctl.selected), exercised on a lossy, delayed,
 * bandwidth-limited link: with NewReno and with CUBIC a transfer arrives
 * intact, each uses its own window arithmetic (CUBIC's W_max state exists
 * only for CUBIC connections), and recovery happens by fast retransmit
 * more than by timeout.
 *
 *     kernel A  link0 10.0.0.1/24 ──faulty(loss 1 %, 5 ms, 20 Mbit/s)──► link0 10.0.0.2/24  kernel B
 *                                 ◄──faulty(5 ms)──
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { AF_INET, SHUT_WR, SOCK_STREAM } from '../../kern/sys.js';
import { inet } from '../../net/inet/inet.js';
import { sototcpcb } from '../../net/inet/tcp/var.js';
import { TCP_CONGESTION } from '../../net/inet/tcp/usrreq.js';
import { IPPROTO_TCP } from '../../net/wire/ipv4.js';
import type { Socket } from '../../net/socket.js';
import { bootKernels } from '../helpers/kernels.js';
import { connectKernels } from '../helpers/link.js';
import { bytes, sin, text, until } from './pair.js';

async function transfer(cc: string, how: 'sysctl' | 'sockopt'): Promise<{ ok: boolean; fastrexmit: number; timeouts: number; ccName: string; ccData: string }> {
  const ks = bootKernels(2, 42);
  const [a, b] = ks.kernels as [typeof ks.kernels[0], typeof ks.kernels[0]];
  connectKernels(ks.sim, a, b, { seed: 5, loss: 0.01, delayMs: 5, bandwidthBps: 20e6 }, { seed: 6, delayMs: 5 },
    { addrA: '10.0.0.1/24', addrB: '10.0.0.2/24' });
  if (how === 'sysctl') await a.sys.sysctlSet('net.inet.tcp.congctl.selected', cc);
  await ks.sim.run(1);
  const l = await b.sys.socket(AF_INET, SOCK_STREAM, 0);
  await b.sys.bind(l, sin('0.0.0.0', 9));
  await b.sys.listen(l, 1);
  const c = await a.sys.socket(AF_INET, SOCK_STREAM, 0);
  if (how === 'sockopt') await a.sys.setsockopt(c, IPPROTO_TCP, TCP_CONGESTION, bytes(cc));
  const cp = a.sys.connect(c, sin('10.0.0.2', 9));
  const ap = b.sys.accept(l);
  await until(ks, cp);
  const { fd } = await until(ks, ap);
  const data = new Uint8Array(1 << 20).map((_, i) => (i * 2654435761) >>> 24);
  const send = (async () => {
    for (let off = 0; off < data.length; ) off += await a.sys.write(c, data.subarray(off, off + 65536));
    await a.sys.shutdown(c, SHUT_WR);
  })();
  const recv = (async () => {
    const h = createHash('sha256');
    for (;;) {
      const d = await b.sys.read(fd, 65536);
      if (!d.length) break;
      h.update(d);
    }
    return h.digest('hex');
  })();
  await until(ks, Promise.all([send, recv]), 10 * 60_000);
  const tp = sototcpcb(a.sys.file(c) as unknown as Socket)!;
  const st = inet(a).tcpstat;
  return {
    ok: (await recv) === createHash('sha256').update(data).digest('hex'),
    fastrexmit: st.fastrexmit,
    timeouts: st.rexmttimeo,
    ccName: text((await a.sys.getsockopt(c, IPPROTO_TCP, TCP_CONGESTION)) as Uint8Array),
    ccData: (tp.cc.ccData as object | null)?.constructor.name ?? 'none',
  };
}

for (const [cc, how] of [['newreno', 'sysctl'], ['cubic', 'sysctl'], ['cubic', 'sockopt']] as const) {
  test(`${cc} (${how === 'sysctl' ? 'net.inet.tcp.congctl.selected' : 'TCP_CONGESTION'}): 1 MiB over 1 % loss arrives intact, mostly by fast retransmit`, async (t) => {
    const r = await transfer(cc, how);
    t.true(r.ok, 'byte-identical');
    t.is(r.ccName, cc);
    t.is(r.ccData, cc === 'cubic' ? 'CubicData' : 'RenoData');
    t.true(r.fastrexmit > 0, `fast retransmits: ${r.fastrexmit}`);
    t.true(r.fastrexmit >= r.timeouts, `fast retransmits ${r.fastrexmit}, timeouts ${r.timeouts}`);
  });
}
