/*
 * An ACK war (found by the fuzzer, fuzz/ target ether, seed 10): a
 * spoofed in-window data segment moves B's rcv_nxt past A's snd_nxt. From
 * then on every ACK of B acknowledges data A never sent (A answers it with
 * an ACK, RFC 9293 §3.10.7.4), and every ACK of A is an old duplicate to B
 * (B answers it with an ACK): on a zero-delay link the two ACK each other
 * for ever and the simulated clock never moves. The ACKs a peer can draw
 * this way are rate limited per connection (net.inet.tcp.ack_war_cnt per
 * ack_war_timewindow ms, as challenge ACKs are).
 *
 *     kernel A  hub0 10.0.0.1/24 ═══ hub "lan" ═══ hub0 10.0.0.2/24  kernel B
 *                                   ▲ spoofed "A" segment, 8 bytes in B's window
 */
import test from 'ava';
import { fixChecksums } from '../../fuzz/engine.js';
import { inet } from '../../net/inet/inet.js';
import { pair } from './pair.js';

test('a peer out of step with us cannot start an endless ACK storm: the dropped-segment ACKs are rate limited', async (t) => {
  const n = await pair();
  const { cfd, sfd } = await n.connected();
  let last: Uint8Array | null = null;
  n.hub.tap((f, from) => {
    if (from !== null && from.kernel === n.a && f[23] === 6) last = f;
  });
  await n.a.sys.write(cfd, new Uint8Array(10));
  await n.sim.run(500);
  t.is((await n.b.sys.read(sfd, 100)).length, 10);
  t.not(last, null, 'a segment of A was seen');
  // A's last segment (an ACK) with 8 bytes of data A never sent, as if from A.
  const ack = last! as Uint8Array;
  const f = new Uint8Array(ack.length + 8);
  f.set(ack);
  f.fill(0x41, ack.length);
  const ipLen = ((f[16]! << 8) | f[17]!) + 8;
  f[16] = ipLen >>> 8;
  f[17] = ipLen & 0xff;
  f[14 + 20 + 13] = 0x18; // PSH|ACK
  fixChecksums(f);
  const before = n.hub.frames;
  n.hub.inject(f);
  const stormed = await n.sim.runUntil(() => n.hub.frames - before > 1000, 5_000);
  t.false(stormed, `${n.hub.frames - before} frames on the hub`);
  t.true(inet(n.b).tcpstat.dropafterack_limited + inet(n.a).tcpstat.dropafterack_limited > 0, 'the limit is what stopped it');
  t.is((await n.b.sys.read(sfd, 100)).length, 8, 'B took the spoofed bytes (they were in its window)');
  await n.closeAllAndCheck(t);
});
