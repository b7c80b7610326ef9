/*
 * RFC 5961 against an off-path attacker who knows a connection's four-tuple
 * but not its sequence numbers: a blind RST, SYN or data segment that falls
 * in the window is refused (a challenge ACK instead of a reset, an
 * unacceptable ACK field instead of data), the challenge ACKs are rate
 * limited per connection, and FreeBSD's sysctls turn each defence off or
 * tune it: net.inet.tcp.insecure_rst, insecure_syn, ack_war_cnt,
 * ack_war_timewindow.
 *
 *     kernel under test (client, ESTABLISHED)  hub0 10.0.0.1 ══ hub ══ 10.0.0.2:8080 scripted peer
 *                                                                ▲ the attacker forges the peer's segments
 */
import test from 'ava';
import { inet } from '../../net/inet/inet.js';
import { bytes, text } from './pair.js';
import { errnoOf } from './harness.js';
import { inState } from './states.js';

const W = 'win 33580';

test('blind in-window RST, SYN and data (with a guessed ACK) are all refused; the connection carries on', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  await p.k.sys.write(fd, bytes('request'));
  t.is(p.next(), `P. 1:8(7) ack 1 ${W}`);
  await p.send('.', 1, 8);
  // The attacker's guesses: in the window, but not at rcv_nxt.
  await p.send('R', 20_000, 0);
  t.is(p.next(), `. 8:8(0) ack 1 ${W}`, 'RST: a challenge ACK (RFC 5961 §3.2), no reset');
  await p.send('S', 30_000, 0);
  t.is(p.next(), `. 8:8(0) ack 1 ${W}`, 'SYN: a challenge ACK (§4.2), no reset');
  // Data at exactly rcv_nxt (the luckiest guess) with an ACK far below snd_una.
  await p.send('P.', 1, (8 - 0x40000000) >>> 0, { data: bytes('forged') });
  t.is(p.next(), `. 8:8(0) ack 1 ${W}`, 'data with an unacceptable ACK: dropped, a challenge ACK (§5.2)');
  // And data acknowledging bytes never sent.
  await p.send('P.', 1, 100_000, { data: bytes('forged') });
  t.is(p.next(), `. 8:8(0) ack 1 ${W}`, 'data acknowledging the future: dropped, an ACK');
  t.is(await p.state(fd), 'ESTABLISHED');
  // The real peer's answer is what the application reads.
  await p.send('P.', 1, 8, { data: bytes('reply') });
  t.is(text(await p.k.sys.read(fd, 100)), 'reply');
  t.is(inet(p.k).tcpstat.challenge_ack, 3);
  await p.finish(t);
});

test('net.inet.tcp.insecure_rst=1: an RST anywhere in the window resets (RFC 793), as it does not by default', async (t) => {
  for (const insecure of [0, 1]) {
    const { p, fd } = await inState('ESTABLISHED', { sysctl: { 'net.inet.tcp.insecure_rst': insecure } });
    await p.send('R', 20_000, 0);
    if (insecure) {
      t.deepEqual(p.drain(), []);
      t.is(await errnoOf(p.k.sys.read(fd, 10)), 'ECONNRESET');
    } else {
      t.is(p.next(), `. 1:1(0) ack 1 ${W}`);
      t.is(await p.state(fd), 'ESTABLISHED');
    }
    await p.finish(t);
  }
});

test('net.inet.tcp.insecure_syn=1: a SYN in the window resets with RST-ACK (RFC 793), as it does not by default', async (t) => {
  for (const insecure of [0, 1]) {
    const { p, fd } = await inState('ESTABLISHED', { sysctl: { 'net.inet.tcp.insecure_syn': insecure } });
    await p.send('S', 30_000, 0);
    if (insecure) {
      t.regex(p.next() ?? '', /^R\. /);
      t.is(await errnoOf(p.k.sys.read(fd, 10)), 'ECONNRESET');
    } else {
      t.is(p.next(), `. 1:1(0) ack 1 ${W}`);
      t.is(await p.state(fd), 'ESTABLISHED');
    }
    await p.finish(t);
  }
});

test('net.inet.tcp.ack_war_cnt: challenge ACKs per window; 0 lifts the limit', async (t) => {
  {
    const { p } = await inState('ESTABLISHED', { sysctl: { 'net.inet.tcp.ack_war_cnt': 2 } });
    for (let i = 0; i < 10; i++) await p.send('R', 1000 + i, 0);
    t.is(p.drain().length, 2);
    t.is(inet(p.k).tcpstat.challenge_ack_limited, 8);
    await p.finish(t);
  }
  {
    const { p } = await inState('ESTABLISHED', { sysctl: { 'net.inet.tcp.ack_war_cnt': 0 } });
    for (let i = 0; i < 10; i++) await p.send('R', 1000 + i, 0);
    t.is(p.drain().length, 10);
    t.is(inet(p.k).tcpstat.challenge_ack_limited, 0);
    await p.finish(t);
  }
});

test('net.inet.tcp.ack_war_timewindow: the window the count applies to (ms); 0 lifts the limit', async (t) => {
  for (const [window, after100] of [[1000, 0], [100, 2]] as const) {
    const { p } = await inState('ESTABLISHED', { sysctl: { 'net.inet.tcp.ack_war_cnt': 2, 'net.inet.tcp.ack_war_timewindow': window } });
    t.is(await p.k.sys.sysctl('net.inet.tcp.ack_war_timewindow'), window);
    for (let i = 0; i < 5; i++) await p.send('R', 1000 + i, 0);
    t.is(p.drain().length, 2);
    await p.run(100);
    for (let i = 0; i < 5; i++) await p.send('R', 2000 + i, 0);
    t.is(p.drain().length, after100, `window ${window} ms: challenge ACKs 100 ms later`);
    await p.finish(t);
  }
  const { p } = await inState('ESTABLISHED', { sysctl: { 'net.inet.tcp.ack_war_timewindow': 0 } });
  for (let i = 0; i < 10; i++) await p.send('R', 1000 + i, 0);
  t.is(p.drain().length, 10);
  await p.finish(t);
});
