/*
 * Loss recovery against a scripted peer: limited transmit (RFC 3042), fast
 * retransmit and NewReno recovery with partial ACKs (RFC 5681 §3.2,
 * RFC 6582), SACK-based recovery that repairs several holes in one round
 * trip (RFC 6675), D-SACK counted (RFC 2883), and go-back-N after a
 * retransmission timeout with the window collapsed to one segment
 * (RFC 5681 §3.1, RFC 6298 §5).
 *
 *     kernel under test  hub0 10.0.0.1/24 ══ hub ══ scripted peer 10.0.0.2:8080
 *
 * The peer offers MSS 1000 without timestamps, so segments carry 1000
 * bytes and the numbers read easily; the initial window is 10 segments
 * (RFC 6928).
 */
import test from 'ava';
import { inet } from '../../net/inet/inet.js';
import { TCP_INFO } from '../../net/inet/tcp/usrreq.js';
import { IPPROTO_TCP } from '../../net/wire/ipv4.js';
import { Peer, type OptSpec } from './harness.js';

const NO_SACK: OptSpec[] = [['mss', 1000]];
const SACK: OptSpec[] = [['mss', 1000], ['sackOK'], ['eol'], ['eol']];
const WIN = 60000;

/** An established connection with `bytes` queued to send; returns the segments that went out. */
async function sending(opts: OptSpec[], bytes: number): Promise<{ p: Peer; fd: number; first: string[] }> {
  const p = await Peer.create({ sysctl: { 'net.inet.tcp.rexmit_min': 200 } });
  const { fd } = await p.activeOpen(opts, WIN);
  await p.k.sys.write(fd, new Uint8Array(bytes).map((_, i) => i & 0xff));
  await p.sim.settle();
  return { p, fd, first: p.drain().map((s) => s.replace(/ ack 1 win \d+/, '')) };
}

const seg = (from: number, flags = '.'): string => `${flags} ${from}:${from + 1000}(1000)`;

test('three duplicate ACKs: limited transmit for the first two, fast retransmit at the third, then NewReno inflation', async (t) => {
  const { p, first } = await sending(NO_SACK, 30_000);
  t.deepEqual(first, Array.from({ length: 10 }, (_, i) => seg(1 + i * 1000)), 'IW = 10 segments');
  // Segment 1 is lost: the peer acknowledges nothing new, three times.
  await p.send('.', 1, 1, { win: WIN });
  t.deepEqual(p.drain().map((s) => s.replace(/ ack 1 win \d+/, '')), [seg(10001)], 'RFC 3042: one new segment');
  await p.send('.', 1, 1, { win: WIN });
  t.deepEqual(p.drain().map((s) => s.replace(/ ack 1 win \d+/, '')), [seg(11001)], 'RFC 3042: one more');
  await p.send('.', 1, 1, { win: WIN });
  t.deepEqual(p.drain().map((s) => s.replace(/ ack 1 win \d+/, '')), [seg(1)], 'fast retransmit of the first segment');
  const st = inet(p.k).tcpstat;
  t.is(st.fastrexmit, 1);
  t.is(st.limitedtransmit, 2);
  // ssthresh = 12 segments in flight / 2 = 6; cwnd = 6 + 3 = 9 segments, inflated by one per further dup ACK.
  for (let i = 0; i < 3; i++) await p.send('.', 1, 1, { win: WIN });
  t.deepEqual(p.drain(), [], 'cwnd 12 segments: still nothing new');
  await p.send('.', 1, 1, { win: WIN });
  t.deepEqual(p.drain().map((s) => s.replace(/ ack 1 win \d+/, '')), [seg(12001)], 'cwnd 13 > 12 in flight');
  // The full ACK ends recovery: cwnd = min(ssthresh, flight + 1 segment).
  await p.send('.', 1, 13001, { win: WIN });
  t.is(st.sndrexmitpack, 1);
  await p.finish(t);
});

test('NewReno partial ACKs (RFC 6582): each retransmits the next hole at once', async (t) => {
  const { p } = await sending(NO_SACK, 10_000);
  // Segments 1, 3 and 5 are lost.
  for (let i = 0; i < 3; i++) await p.send('.', 1, 1, { win: WIN });
  t.deepEqual(p.drain().map((s) => s.replace(/ ack 1 win \d+/, '')), [seg(1)]);
  await p.send('.', 1, 2001, { win: WIN });
  t.deepEqual(p.drain().map((s) => s.replace(/ ack 1 win \d+/, '')), [seg(2001)], 'partial ACK: next hole');
  await p.send('.', 1, 4001, { win: WIN });
  t.deepEqual(p.drain().map((s) => s.replace(/ ack 1 win \d+/, '')), [seg(4001)]);
  await p.send('.', 1, 10001, { win: WIN });
  t.is(inet(p.k).tcpstat.newreno_partialack, 2);
  t.is(inet(p.k).tcpstat.rexmttimeo, 0, 'no timeout needed');
  await p.finish(t);
});

test('SACK recovery (RFC 6675): several holes repaired in the first round trip', async (t) => {
  const { p } = await sending(SACK, 10_000);
  // Segments 1 and 5 are lost; the peer SACKs what arrived.
  await p.send('.', 1, 1, { win: WIN, opts: [['nop'], ['nop'], ['sack', [1001, 2001]]] });
  await p.send('.', 1, 1, { win: WIN, opts: [['nop'], ['nop'], ['sack', [1001, 3001]]] });
  await p.send('.', 1, 1, { win: WIN, opts: [['nop'], ['nop'], ['sack', [1001, 4001]]] });
  const st = inet(p.k).tcpstat;
  t.is(st.sack_recovery_episode, 1);
  const r1 = p.drain().map((s) => s.replace(/ ack 1 win \d+/, ''));
  t.is(r1[0], seg(1), 'the first hole goes at once');
  await p.send('.', 1, 1, { win: WIN, opts: [['nop'], ['nop'], ['sack', [5001, 8001], [1001, 4001]]] });
  const r2 = p.drain().map((s) => s.replace(/ ack 1 win \d+/, ''));
  t.true(r2.includes(seg(4001)), `the second hole follows without waiting for a partial ACK: ${r2.join(', ')}`);
  await p.send('.', 1, 10001, { win: WIN });
  t.true(st.sack_rexmits >= 1);
  t.is(st.rexmttimeo, 0);
  await p.finish(t);
});

test('SACK recovery (RFC 6675 §5): ssthresh from FlightSize at entry, new data while the pipe has room', async (t) => {
  const { p, fd } = await sending(SACK, 30_000);
  // Segment 1 is lost. Limited transmit sends 10001 and 11001 on the first
  // two dup ACKs; the third enters recovery with 12 segments outstanding.
  await p.send('.', 1, 1, { win: WIN, opts: [['nop'], ['nop'], ['sack', [1001, 2001]]] });
  await p.send('.', 1, 1, { win: WIN, opts: [['nop'], ['nop'], ['sack', [1001, 3001]]] });
  await p.send('.', 1, 1, { win: WIN, opts: [['nop'], ['nop'], ['sack', [1001, 4001]]] });
  t.deepEqual(p.drain().map((s) => s.replace(/ ack 1 win \d+/, '')), [seg(10001), seg(11001), seg(1)]);
  const info = (await p.k.sys.getsockopt(fd, IPPROTO_TCP, TCP_INFO)) as Record<string, number>;
  // RFC 6675 (4.2) / RFC 5681 (4): FlightSize = snd_max − snd_una = 12000,
  // not the pipe (9000 here): ssthresh = max(12000 / 2, 2·SMSS), cwnd = ssthresh.
  t.is(info['tcpi_snd_ssthresh'], 6000);
  t.is(info['tcpi_snd_cwnd'], 6000);
  // Everything up to 8001 is SACKed: the pipe is the retransmission plus
  // 8001..12001 = 5000, cwnd − pipe = 1 SMSS and no hole is lost, so
  // NextSeg rule (2) sends one new segment (RFC 6675 (C)).
  await p.send('.', 1, 1, { win: WIN, opts: [['nop'], ['nop'], ['sack', [1001, 8001]]] });
  t.deepEqual(p.drain().map((s) => s.replace(/ ack 1 win \d+/, '')), [seg(12001)], 'new data during recovery');
  // Two more segments SACKed: room for two more new ones.
  await p.send('.', 1, 1, { win: WIN, opts: [['nop'], ['nop'], ['sack', [1001, 10001]]] });
  t.deepEqual(p.drain().map((s) => s.replace(/ ack 1 win \d+/, '')), [seg(13001), seg(14001)]);
  const st = inet(p.k).tcpstat;
  t.is(st.sack_rexmits, 0, 'new data is not counted as a retransmission');
  t.is(st.sndrexmitpack, 1);
  // The retransmission arrives: the ACK covers the recovery point (12001).
  await p.send('.', 1, 12001, { win: WIN });
  t.is(st.rexmttimeo, 0);
  await p.finish(t);
});

test('a D-SACK from the peer is counted and starts nothing', async (t) => {
  const { p } = await sending(SACK, 2000);
  await p.send('.', 1, 2001, { win: WIN });
  await p.send('.', 1, 2001, { win: WIN, opts: [['nop'], ['nop'], ['sack', [1, 1001]]] });
  t.is(inet(p.k).tcpstat.dsack_rcv, 1);
  t.deepEqual(p.drain(), []);
  await p.finish(t);
});

test('retransmission timeout: go back to snd_una with one segment, then slow start', async (t) => {
  const { p } = await sending(NO_SACK, 20_000);
  const t0 = p.now;
  await p.run(200);
  const r = p.out.splice(0);
  t.deepEqual(r.map((s) => s.text.replace(/ ack 1 win \d+/, '')), [seg(1)], 'cwnd = 1 segment');
  t.is(Math.round(r[0]!.t - t0), 200, 'RTO: the SYN measured RTT 0, so the floor (rexmit_min 200 ms)');
  await p.send('.', 1, 1001, { win: WIN });
  t.deepEqual(p.drain().map((s) => s.replace(/ ack 1 win \d+/, '')), [seg(1001), seg(2001)], 'slow start: two');
  t.is(inet(p.k).tcpstat.rexmttimeo, 1);
  await p.finish(t);
});
