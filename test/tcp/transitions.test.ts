/*
 * Every transition of the RFC 9293 §3.3.2 state diagram, and the
 * acceptance rules of §3.10.7 (sequence, RST, SYN, ACK; RFC 5961's
 * challenge ACKs; RFC 7323's PAWS): a connection is put in a state, a
 * segment (or a user call, or time) arrives, and the reply and the new
 * state are checked.
 *
 *     kernel under test  hub0 10.0.0.1/24 ══ hub ══ scripted peer 10.0.0.2:8080
 *
 * The peer's segments use relative sequence numbers (its ISN is 0, ours
 * is 0); windows are the kernel's defaults (32768 rounded to 33580).
 */
import test from 'ava';
import { ECONNREFUSED } from '../../kern/errno.js';
import { SHUT_WR } from '../../kern/sys.js';
import { SOL_SOCKET, SO_ERROR, SO_RCVBUF } from '../../net/socket.js';
import { inet } from '../../net/inet/inet.js';
import { errnoOf } from './harness.js';
import { PLAIN, inState } from './states.js';

const W = 'win 33580';

test('CLOSED → LISTEN (listen) and CLOSED → SYN_SENT (connect sends SYN)', async (t) => {
  const { p, fd } = await inState('CLOSED');
  t.is(await p.state(fd), 'CLOSED');
  t.is(await errnoOf(p.k.sys.connect(fd, p.peerAddr())), 'EINPROGRESS');
  await p.sim.settle();
  t.is(p.next(), 'S 0:0(0) win 32768 <mss 1460,nop,wscale 3,sackOK,TS val * ecr 0>');
  t.is(await p.state(fd), 'SYN_SENT');
  const l = await inState('LISTEN');
  t.is(await l.p.state(l.fd), 'LISTEN');
  await p.finish(t);
});

test('LISTEN → SYN_RCVD (SYN; a SYN cache entry) → ESTABLISHED (ACK; accept returns it)', async (t) => {
  const { p, fd } = await inState('LISTEN');
  await p.send('S', 0, 0, { opts: PLAIN });
  t.is(p.next(), 'S. 0:0(0) ack 1 win 32768 <mss 1460>');
  t.deepEqual(await p.states(), ['LISTEN', 'SYN_RCVD']);
  await p.send('.', 1, 1);
  t.deepEqual(p.drain(), []);
  const { fd: afd } = await p.k.sys.accept(fd);
  t.is(await p.state(afd), 'ESTABLISHED');
  await p.finish(t);
});

test('SYN_RCVD → LISTEN: an RST from the peer removes the half-open connection only', async (t) => {
  const { p, fd } = await inState('LISTEN');
  await p.send('S', 0, 0, { opts: PLAIN });
  p.drain();
  await p.send('R', 1, 0);
  t.deepEqual(await p.states(), ['LISTEN']);
  t.is(await p.state(fd), 'LISTEN');
  t.is(inet(p.k).tcpstat.sc_reset, 1);
  await p.finish(t);
});

test('SYN_SENT → ESTABLISHED (SYN-ACK, ACK sent); SYN_SENT → SYN_RCVD (SYN, SYN-ACK sent); SYN_SENT → CLOSED (close)', async (t) => {
  {
    const { p, fd } = await inState('SYN_SENT');
    await p.send('S.', 0, 1, { opts: PLAIN });
    t.is(p.next(), `. 1:1(0) ack 1 ${W}`);
    t.is(await p.state(fd), 'ESTABLISHED');
  }
  {
    const { p, fd } = await inState('SYN_SENT');
    await p.send('S', 0, 0, { opts: PLAIN });
    t.is(p.next(), 'S. 0:0(0) ack 1 win 33580 <mss 1460>', 'the buffer was rounded to the MSS the SYN offered');
    t.is(await p.state(fd), 'SYN_RCVD');
  }
  {
    const { p, fd } = await inState('SYN_SENT');
    await p.k.sys.close(fd);
    t.deepEqual(p.drain(), []);
    t.deepEqual(await p.states(), []);
  }
});

test('SYN_RCVD → ESTABLISHED (ACK); SYN_RCVD → FIN_WAIT_1 (shutdown, then the ACK sends the FIN); SYN_RCVD → CLOSED (RST: ECONNREFUSED)', async (t) => {
  {
    const { p, fd } = await inState('SYN_RCVD');
    await p.send('.', 1, 1);
    t.is(await p.state(fd), 'ESTABLISHED');
  }
  {
    const { p, fd } = await inState('SYN_RCVD');
    await p.k.sys.shutdown(fd, SHUT_WR);
    t.deepEqual(p.drain(), [], 'no FIN before our SYN is acknowledged');
    await p.send('.', 1, 1);
    t.is(p.next(), `F. 1:1(0) ack 1 ${W}`);
    t.is(await p.state(fd), 'FIN_WAIT_1');
  }
  {
    const { p, fd } = await inState('SYN_RCVD');
    await p.send('R', 1, 0);
    t.is(await p.k.sys.getsockopt(fd, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
    t.is(await p.state(fd), 'CLOSED');
  }
});

test('ESTABLISHED → FIN_WAIT_1 (close) and → CLOSE_WAIT (FIN, ACK sent)', async (t) => {
  {
    const { p, fd } = await inState('ESTABLISHED');
    await p.k.sys.shutdown(fd, SHUT_WR);
    t.is(p.next(), `F. 1:1(0) ack 1 ${W}`);
    t.is(await p.state(fd), 'FIN_WAIT_1');
  }
  {
    const { p, fd } = await inState('ESTABLISHED');
    await p.send('F.', 1, 1);
    t.is(p.next(), `. 1:1(0) ack 2 ${W}`);
    t.is(await p.state(fd), 'CLOSE_WAIT');
    t.is((await p.k.sys.read(fd, 10)).length, 0, 'the user reads end of file');
  }
});

test('FIN_WAIT_1 → FIN_WAIT_2 (ACK of FIN), → CLOSING (FIN), → TIME_WAIT (FIN with ACK of FIN)', async (t) => {
  const cases: Array<[string, number, string, string]> = [
    ['.', 2, 'FIN_WAIT_2', ''],
    ['F.', 1, 'CLOSING', `F. 1:1(0) ack 2 ${W}`],
    ['F.', 2, 'TIME_WAIT', `. 2:2(0) ack 2 ${W}`],
  ];
  for (const [flags, ack, state, reply] of cases) {
    const { p, fd } = await inState('FIN_WAIT_1');
    await p.send(flags, 1, ack);
    t.deepEqual(p.drain(), reply ? [reply] : [], state);
    t.deepEqual(await p.states(), [state]);
    t.is(await p.state(fd), state);
  }
});

test('FIN_WAIT_2 → TIME_WAIT (FIN); CLOSING → TIME_WAIT (ACK of FIN); TIME_WAIT → CLOSED (2 MSL)', async (t) => {
  {
    const { p, fd } = await inState('FIN_WAIT_2');
    await p.send('F.', 1, 2);
    t.is(p.next(), `. 2:2(0) ack 2 ${W}`);
    t.is(await p.state(fd), 'TIME_WAIT');
  }
  {
    const { p, fd } = await inState('CLOSING');
    await p.send('.', 2, 2);
    t.deepEqual(p.drain(), []);
    t.is(await p.state(fd), 'TIME_WAIT');
    await p.run(60_000);
    t.is(await p.state(fd), 'CLOSED');
  }
});

test('TIME_WAIT: the peer\'s FIN again is ACKed and restarts the 2 MSL wait (RFC 9293 §3.10.7.4 eighth)', async (t) => {
  const { p, fd } = await inState('FIN_WAIT_2');
  await p.send('F.', 1, 2);
  t.is(p.next(), `. 2:2(0) ack 2 ${W}`);
  t.is(await p.state(fd), 'TIME_WAIT');
  await p.run(50_000);
  // Our ACK was lost: the peer retransmits its FIN, 50 s into the wait.
  await p.send('F.', 1, 2);
  t.is(p.next(), `. 2:2(0) ack 2 ${W}`);
  await p.run(20_000);
  // 70 s after the first FIN, 20 s after the second: still waiting.
  t.is(await p.state(fd), 'TIME_WAIT');
  await p.run(40_100);
  t.is(await p.state(fd), 'CLOSED');
  t.deepEqual(p.drain(), []);
});

test('CLOSE_WAIT → LAST_ACK (close sends FIN) → CLOSED (ACK of FIN)', async (t) => {
  const { p, fd } = await inState('CLOSE_WAIT');
  await p.k.sys.shutdown(fd, SHUT_WR);
  t.is(p.next(), `F. 1:1(0) ack 2 ${W}`);
  t.is(await p.state(fd), 'LAST_ACK');
  await p.send('.', 2, 2);
  t.is(await p.state(fd), 'CLOSED');
  t.is(inet(p.k).tcbtable.size, 0);
  await p.finish(t);
});

test('TIME_WAIT reopened by a SYN with a higher sequence number (RFC 6191) for a listener', async (t) => {
  // A passive connection ends in TIME_WAIT on our side; the peer comes back with a new SYN.
  const { p, fd: lfd } = await inState('LISTEN');
  await p.send('S', 0, 0, { opts: PLAIN });
  p.drain();
  await p.send('.', 1, 1);
  const { fd } = await p.k.sys.accept(lfd);
  await p.k.sys.shutdown(fd, SHUT_WR);
  p.drain();
  await p.send('F.', 1, 2);
  p.drain();
  t.deepEqual((await p.states()).sort(), ['LISTEN', 'TIME_WAIT']);
  await p.send('S', 1000, 0, { opts: PLAIN });
  const synack = p.nextSeg()!;
  t.is(synack.text.replace(/^S\. \d+:\d+/, 'S. x:x'), 'S. x:x(0) ack 1001 win 32768 <mss 1460>');
  t.is(inet(p.k).tcpstat.tw_reuse, 1);
  await p.finish(t);
});

/* ------------------------------------------------------------------------ */
/* Acceptance (RFC 9293 §3.10.7.4 and RFC 5961). */

test('sequence acceptability: old, beyond the window, partly old, partly beyond', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  const rcvbuf = (await p.k.sys.getsockopt(fd, SOL_SOCKET, SO_RCVBUF)) as number;
  // An old duplicate (entirely before rcv_nxt): ACK, drop.
  await p.send('.', 0, 1, { data: 1 });
  t.is(p.next(), `. 1:1(0) ack 1 ${W}`);
  // Beyond the window: ACK, drop.
  await p.send('.', 1 + rcvbuf, 1, { data: 10 });
  t.is(p.next(), `. 1:1(0) ack 1 ${W}`);
  t.is(inet(p.k).tcpstat.rcvpackafterwin, 1);
  // Partly old: the new part is kept.
  await p.send('.', 1, 1, { data: 10 });
  await p.send('.', 6, 1, { data: 10 });
  t.is((await p.k.sys.read(fd, 100)).length, 15);
  t.is(inet(p.k).tcpstat.rcvpartduppack, 1);
  // Partly beyond the right edge: trimmed to the window.
  p.drain();
  await p.send('.', 16, 1, { data: rcvbuf + 100 });
  await p.run(500);
  t.is((await p.k.sys.read(fd, 100_000)).length, rcvbuf);
  t.is(inet(p.k).tcpstat.rcvbyteafterwin, 10 + 100);
  await p.finish(t);
});

test('a zero window takes no data but ACKs a probe at its edge', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  const rcvbuf = (await p.k.sys.getsockopt(fd, SOL_SOCKET, SO_RCVBUF)) as number;
  await p.send('.', 1, 1, { data: rcvbuf });
  await p.run(500);
  t.is(p.drain().pop(), `. 1:1(0) ack ${1 + rcvbuf} win 0`);
  await p.send('.', 1 + rcvbuf, 1, { data: 1 });
  t.is(p.next(), `. 1:1(0) ack ${1 + rcvbuf} win 0`, 'the probe is acknowledged, its byte not taken');
  t.is(inet(p.k).tcpstat.rcvwinprobe, 1);
  // Reading opens the window: an update goes out.
  await p.k.sys.read(fd, rcvbuf);
  t.is(p.next(), `. 1:1(0) ack ${1 + rcvbuf} ${W}`);
  await p.finish(t);
});

test('ACK acceptability: beyond snd_max is ACKed and dropped; far below snd_una draws a challenge ACK (RFC 5961 §5)', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  await p.send('.', 1, 100);
  t.is(p.next(), `. 1:1(0) ack 1 ${W}`);
  t.is(inet(p.k).tcpstat.rcvacktoomuch, 1);
  await p.k.sys.write(fd, new Uint8Array(10));
  p.drain();
  await p.send('.', 1, 11);
  await p.send('.', 1, (11 - 200_000) >>> 0);
  t.is(p.next(), `. 11:11(0) ack 1 ${W}`);
  t.is(inet(p.k).tcpstat.challenge_ack, 1);
  await p.finish(t);
});

test('RST outside the window is ignored; inside but not exact draws a challenge ACK; challenge ACKs are rate limited (5/s)', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  await p.send('R', 100_000, 0);
  t.deepEqual(p.drain(), []);
  for (let i = 0; i < 8; i++) await p.send('R', 2 + i, 0);
  t.is(p.drain().length, 5, 'net.inet.tcp.ack_war_cnt per ack_war_timewindow');
  t.is(inet(p.k).tcpstat.challenge_ack_limited, 3);
  await p.run(1000);
  await p.send('R', 50, 0);
  t.is(p.drain().length, 1, 'a new window');
  t.is(await p.state(fd), 'ESTABLISHED');
  await p.send('R', 1, 0);
  t.is(await errnoOf(p.k.sys.read(fd, 1)), 'ECONNRESET');
  await p.finish(t);
});

test('PAWS (RFC 7323 §5): a segment with an older timestamp is dropped and ACKed', async (t) => {
  const { p, fd } = await inState('CLOSED');
  await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
  await p.sim.settle();
  const syn = p.nextSeg()!;
  await p.send('S.', 0, 1, { opts: [['mss', 1460], ['nop'], ['nop'], ['ts', 1000, syn.opts.tsVal]] });
  p.drain();
  await p.send('.', 1, 1, { data: 5, opts: [['nop'], ['nop'], ['ts', 1001, 0]] });
  await p.send('.', 6, 1, { data: 5, opts: [['nop'], ['nop'], ['ts', 999, 0]] });
  await p.run(300);
  t.is((await p.k.sys.read(fd, 100)).length, 5, 'the old-stamped segment was not taken');
  t.is(inet(p.k).tcpstat.pawsdrop, 1);
  await p.finish(t);
});
