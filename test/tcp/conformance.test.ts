/*
 * FreeBSD's packetdrill behaviours (../shared/reference/packetdrill.md),
 * one test per script of ../shared/conformance/freebsd-tcp-testsuite/,
 * replayed through the harness against this TCP with the `freebsd` sysctl
 * profile: the same segments in, the same segments out (sequence numbers
 * relative, timestamp values not compared), the same errno and state.
 *
 *     kernel under test  hub0 10.0.0.1/24 ══ hub ══ the script's peer 10.0.0.2:8080
 */
import test from 'ava';
import { ECONNREFUSED, ECONNRESET, EHOSTUNREACH, ETIMEDOUT } from '../../kern/errno.js';
import { AF_INET, MSG_PEEK, SHUT_WR } from '../../kern/sys.js';
import { SOL_SOCKET, SO_ERROR, SO_RCVBUF, SO_REUSEADDR } from '../../net/socket.js';
import { IPPROTO_TCP } from '../../net/wire/ipv4.js';
import { TCP_INFO, TCP_KEEPIDLE, TCP_KEEPINIT, TCP_NOOPT } from '../../net/inet/tcp/usrreq.js';
import { icmpMessage, ipPacket } from '../helpers/kernels.js';
import { KERNEL_ADDR, PEER_ADDR, Peer, errnoOf, type OptSpec } from './harness.js';

const SYN_DEFAULT = 'S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val * ecr 0>';
const MSS_SACK: OptSpec[] = [['mss', 1460], ['sackOK'], ['eol'], ['eol']];

/** The common start: connect, SYN, SYN-ACK (mss, sackOK), ACK; SO_RCVBUF 65536 → 65700. */
async function established(t: import('ava').ExecutionContext, sysctl: Record<string, number> = {}): Promise<{ p: Peer; fd: number }> {
  const p = await Peer.create({ freebsd: true, sysctl });
  const fd = await p.socket();
  t.is(await p.k.sys.getsockopt(fd, SOL_SOCKET, SO_RCVBUF), 65536);
  t.is(await errnoOf(p.k.sys.connect(fd, p.peerAddr())), 'EINPROGRESS');
  await p.sim.settle();
  t.is(p.next(), SYN_DEFAULT);
  await p.run(100);
  await p.send('S.', 0, 1, { win: 32767, opts: MSS_SACK });
  t.is(p.next(), '. 1:1(0) ack 1 win 65535');
  t.is(await p.k.sys.getsockopt(fd, SOL_SOCKET, SO_RCVBUF), 65700);
  return { p, fd };
}

/** A listener on 8080 with SO_REUSEADDR, as the scripts make it. */
async function listener(p: Peer, backlog = 1): Promise<number> {
  const fd = await p.socket(false);
  await p.k.sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  await p.k.sys.bind(fd, { family: AF_INET, addr: '0.0.0.0', port: 8080 });
  await p.k.sys.listen(fd, backlog);
  return fd;
}

async function soError(p: Peer, fd: number): Promise<number> {
  return (await p.k.sys.getsockopt(fd, SOL_SOCKET, SO_ERROR)) as number;
}

/* ------------------------------------------------------------------------ */
/* snippets/ */

test('snippets/established: the handshake, SO_RCVBUF rounded, close and TIME_WAIT', async (t) => {
  const { p, fd } = await established(t);
  await p.run(100);
  t.is(await soError(p, fd), 0);
  t.is(await p.state(fd), 'ESTABLISHED');
  await p.k.sys.close(fd);
  t.is(p.next(), 'F. 1:1(0) ack 1 win 65535');
  await p.run(100);
  await p.send('F.', 1, 2, { win: 32767 });
  t.is(p.next(), '. 2:2(0) ack 2 win 65535');
  t.deepEqual(await p.states(), ['TIME_WAIT']);
  await p.finish(t);
});

test('snippets/closed-initially: a new socket is CLOSED', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await p.socket();
  t.is(await p.k.sys.getsockopt(fd, SOL_SOCKET, SO_RCVBUF), 65536);
  t.is(await soError(p, fd), 0);
  t.is(await p.state(fd), 'CLOSED');
  await p.k.sys.close(fd);
  t.deepEqual(await p.states(), []);
  await p.finish(t);
});

test('snippets/listen: listen gives LISTEN', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await listener(p);
  await p.run(100);
  t.is(await soError(p, fd), 0);
  t.is(await p.state(fd), 'LISTEN');
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('snippets/syn-sent: connect leaves SYN_SENT', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await p.socket();
  t.is(await errnoOf(p.k.sys.connect(fd, p.peerAddr())), 'EINPROGRESS');
  await p.sim.settle();
  t.is(p.next(), SYN_DEFAULT);
  await p.run(100);
  t.is(await soError(p, fd), 0);
  t.is(await p.state(fd), 'SYN_SENT');
  await p.k.sys.close(fd);
  t.deepEqual(p.drain(), [], 'closing in SYN_SENT sends nothing');
  await p.finish(t);
});

test('snippets/syn-rcvd-via-listen: a SYN to a listener gets mss,sackOK,eol,eol and a SYN_RCVD entry', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await listener(p);
  await p.send('S', 0, 0, { win: 32767, opts: MSS_SACK });
  t.is(p.next(), 'S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>');
  t.deepEqual(await p.states(), ['LISTEN', 'SYN_RCVD']);
  await p.run(100);
  t.is(await soError(p, fd), 0);
  await p.k.sys.close(fd);
  t.deepEqual(await p.states(), []);
  await p.finish(t);
});

test('snippets/syn-rcvd-via-syn-sent: simultaneous open answers with SYN-ACK', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await p.socket();
  await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
  await p.sim.settle();
  t.is(p.next(), SYN_DEFAULT);
  await p.run(100);
  await p.send('S', 0, 0, { win: 32767, opts: MSS_SACK });
  t.is(p.next(), 'S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>');
  await p.run(100);
  t.is(await soError(p, fd), 0);
  t.is(await p.state(fd), 'SYN_RCVD');
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('snippets/noopt-syn-rcvd-via-syn-sent: TCP_NOOPT sends no options, simultaneous open completes', async (t) => {
  const p = await Peer.create({ freebsd: true, sysctl: { 'net.inet.tcp.rfc1323': 0, 'net.inet.tcp.sack.enable': 0 } });
  const fd = await p.socket();
  await p.k.sys.setsockopt(fd, IPPROTO_TCP, TCP_NOOPT, 1);
  await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
  await p.sim.settle();
  t.is(p.next(), 'S 0:0(0) win 65535');
  await p.run(50);
  await p.send('S', 0, 0, { win: 65535 });
  t.is(p.next(), 'S. 0:0(0) ack 1 win 65535');
  await p.send('.', 1, 1, { win: 65535 });
  await p.run(100);
  t.is(await soError(p, fd), 0);
  t.is(await p.state(fd), 'ESTABLISHED');
  const info = (await p.k.sys.getsockopt(fd, IPPROTO_TCP, TCP_INFO)) as Record<string, number>;
  t.is(info['tcpi_options'], 0);
  t.is(info['tcpi_snd_mss'], 536, 'TCP_NOOPT: send MSS 536');
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('snippets/close-wait: the peer FIN gives CLOSE_WAIT, close sends FIN', async (t) => {
  const { p, fd } = await established(t);
  await p.run(100);
  await p.send('F.', 1, 1, { win: 32767 });
  t.is(p.next(), '. 1:1(0) ack 2 win 65535');
  await p.run(100);
  t.is(await soError(p, fd), 0);
  t.is(await p.state(fd), 'CLOSE_WAIT');
  await p.k.sys.close(fd);
  t.is(p.next(), 'F. 1:1(0) ack 2 win 65535');
  await p.run(100);
  await p.send('.', 2, 2, { win: 32767 });
  t.deepEqual(await p.states(), []);
  await p.finish(t);
});

test('snippets/last-ack: CLOSE_WAIT + shutdown gives LAST_ACK; the ACK closes', async (t) => {
  const { p, fd } = await established(t);
  await p.run(100);
  await p.send('F.', 1, 1, { win: 32767 });
  t.is(p.next(), '. 1:1(0) ack 2 win 65535');
  await p.k.sys.shutdown(fd, SHUT_WR);
  t.is(p.next(), 'F. 1:1(0) ack 2 win 65535');
  await p.run(100);
  t.is(await soError(p, fd), 0);
  t.is(await p.state(fd), 'LAST_ACK');
  await p.run(100);
  await p.send('.', 2, 2, { win: 32767 });
  t.is(await p.state(fd), 'CLOSED');
  await p.k.sys.close(fd);
  t.deepEqual(await p.states(), []);
  await p.finish(t);
});

test('snippets/fin-wait-1 and time-wait-via-fin-wait-1: shutdown, then FIN+ACK', async (t) => {
  const { p, fd } = await established(t);
  await p.run(100);
  await p.k.sys.shutdown(fd, SHUT_WR);
  t.is(p.next(), 'F. 1:1(0) ack 1 win 65535');
  await p.run(100);
  t.is(await p.state(fd), 'FIN_WAIT_1');
  await p.send('F.', 1, 2, { win: 32767 });
  t.is(p.next(), '. 2:2(0) ack 2 win 65535');
  await p.run(100);
  t.is(await soError(p, fd), 0);
  t.deepEqual(await p.states(), ['TIME_WAIT']);
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('snippets/fin-wait-2 and time-wait-via-fin-wait-2', async (t) => {
  const { p, fd } = await established(t);
  await p.run(100);
  await p.k.sys.shutdown(fd, SHUT_WR);
  t.is(p.next(), 'F. 1:1(0) ack 1 win 65535');
  await p.run(100);
  await p.send('.', 1, 2, { win: 32767 });
  await p.run(100);
  t.is(await p.state(fd), 'FIN_WAIT_2');
  await p.send('F.', 1, 2, { win: 32767 });
  t.is(p.next(), '. 2:2(0) ack 2 win 65535');
  t.deepEqual(await p.states(), ['TIME_WAIT']);
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('snippets/closing: simultaneous close', async (t) => {
  const { p, fd } = await established(t);
  await p.run(100);
  await p.k.sys.shutdown(fd, SHUT_WR);
  t.is(p.next(), 'F. 1:1(0) ack 1 win 65535');
  await p.run(100);
  await p.send('F.', 1, 1, { win: 32767 });
  t.is(p.next(), 'F. 1:1(0) ack 2 win 65535', 'the FIN is retransmitted with the ACK of theirs');
  await p.run(100);
  t.is(await soError(p, fd), 0);
  t.is(await p.state(fd), 'CLOSING');
  await p.run(100);
  await p.send('.', 2, 2, { win: 32767 });
  t.deepEqual(await p.states(), ['TIME_WAIT']);
  await p.k.sys.close(fd);
  await p.finish(t);
});

/* ------------------------------------------------------------------------ */
/* snd-syn/ */

test('snd-syn: SYN retransmissions at 0, +1.0 s, +2.2 s with unchanged options', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await p.socket();
  await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
  await p.sim.settle();
  const t0 = p.now;
  t.is(p.next(), SYN_DEFAULT);
  await p.run(5000);
  const segs = p.out.splice(0);
  t.deepEqual(segs.map((s) => s.text), [SYN_DEFAULT, SYN_DEFAULT]);
  t.deepEqual(segs.map((s) => s.t - t0), [1000, 3200]);
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('snd-syn-rtx-max-number: retransmissions back off to 64 s, then ETIMEDOUT (keepinit 363 s)', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await p.socket();
  await p.k.sys.setsockopt(fd, IPPROTO_TCP, TCP_KEEPINIT, 363);
  await p.run(1000);
  await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
  await p.sim.settle();
  const t0 = p.now;
  await p.run(400_000);
  const times = p.out.splice(0).map((s) => Math.round(s.t - t0));
  t.deepEqual(times.slice(0, 11), [0, 1000, 3200, 7400, 15600, 31800, 64000, 128000, 192000, 256000, 320000]);
  t.is(await soError(p, fd), ETIMEDOUT);
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('snd-syn-rtx-drop-options: rexmit_drop_options=1 keeps only the MSS from the 4th SYN on', async (t) => {
  const p = await Peer.create({ freebsd: true, sysctl: { 'net.inet.tcp.rexmit_drop_options': 1 } });
  const fd = await p.socket();
  await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
  await p.run(20_000);
  t.deepEqual(p.drain(), [SYN_DEFAULT, SYN_DEFAULT, SYN_DEFAULT, 'S 0:0(0) win 65535 <mss 1460>', 'S 0:0(0) win 65535 <mss 1460>']);
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('snd-syn-without-options: TCP_NOOPT', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await p.socket();
  await p.k.sys.setsockopt(fd, IPPROTO_TCP, TCP_NOOPT, 1);
  await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
  await p.sim.settle();
  t.is(p.next(), 'S 0:0(0) win 65535');
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('snd-syn-without-sack / without-ws-and-ts / window scale 1 and 14 / MSS from MTU 9000', async (t) => {
  const cases: Array<[Record<string, number>, string, number?]> = [
    [{ 'net.inet.tcp.sack.enable': 0 }, 'S 0:0(0) win 65535 <mss 1460,nop,wscale 6,nop,nop,TS val * ecr 0>'],
    [{ 'net.inet.tcp.rfc1323': 0 }, 'S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>'],
    [{ 'kern.ipc.maxsockbuf': 73728 }, 'S 0:0(0) win 65535 <mss 1460,nop,wscale 1,sackOK,TS val * ecr 0>'],
    [{ 'kern.ipc.maxsockbuf': 4294967295 }, 'S 0:0(0) win 65535 <mss 1460,nop,wscale 14,sackOK,TS val * ecr 0>'],
    [{}, 'S 0:0(0) win 65535 <mss 8960,nop,wscale 6,sackOK,TS val * ecr 0>', 9000],
  ];
  for (const [sysctl, syn, mtu] of cases) {
    const p = await Peer.create({ freebsd: true, sysctl, ...(mtu ? { mtu } : {}) });
    const fd = await p.socket();
    await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
    await p.sim.settle();
    t.is(p.next(), syn, JSON.stringify(sysctl));
    await p.k.sys.close(fd);
  }
});

/* ------------------------------------------------------------------------ */
/* state-event-engine/ */

test('rcv-ack-closed / rcv-ack-listen: an ACK nobody expects gets <SEQ=SEG.ACK><RST>', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await p.socket(false);
  await p.k.sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  await p.k.sys.bind(fd, { family: AF_INET, addr: '0.0.0.0', port: 8080 });
  p.kiss = 0;
  await p.run(100);
  await p.send('.', 17, 34, { win: 32767, data: 3 });
  t.is(p.next(), 'R 34:34(0) win 0');
  await p.k.sys.listen(fd, 1);
  await p.send('.', 17, 34, { win: 32767 });
  t.is(p.next(), 'R 34:34(0) win 0');
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('rcv-fin-closed / rcv-syn-closed: RST-ACK acking SEG.SEQ+SEG.LEN', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await p.socket(false);
  await p.k.sys.bind(fd, { family: AF_INET, addr: '0.0.0.0', port: 8080 });
  p.kiss = 0;
  await p.send('F', 0, 0, { win: 32767 });
  t.is(p.next(), 'R. 0:0(0) ack 1 win 0');
  await p.send('S', 0, 0, { win: 32767, opts: MSS_SACK });
  t.is(p.next(), 'R. 0:0(0) ack 1 win 0');
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('rcv-fin-listen / rcv-syn-ack-listen / rcv-rst-listen: dropped; the listener still answers SYNs', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await listener(p);
  await p.send('F', 17, 0, { win: 32767 });
  await p.send('S.', 17, 34, { win: 32767, absAck: true });
  await p.send('R', 0, 0, { win: 32767 });
  await p.run(1000);
  t.deepEqual(p.drain(), []);
  await p.send('S', 27, 0, { win: 32767, opts: MSS_SACK, absSeq: false });
  t.is(p.next(), 'S. 0:0(0) ack 28 win 65535 <mss 1460,sackOK,eol,eol>');
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('rcv-syn-ack-listen: a SYN with only an MSS gets a SYN-ACK with only an MSS', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await listener(p);
  await p.send('S', 0, 0, { win: 32767, opts: [['mss', 1460]] });
  t.is(p.next(), 'S. 0:0(0) ack 1 win 65535 <mss 1460>');
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('rcv-syn-listen: data on a SYN is not acknowledged', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await listener(p);
  await p.send('S', 17, 0, { win: 32767, opts: MSS_SACK, data: 3 });
  t.is(p.next(), 'S. 0:0(0) ack 18 win 65535 <mss 1460,sackOK,eol,eol>');
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('rcv-syn-fin-listen: drop_synfin drops SYN+FIN', async (t) => {
  const p = await Peer.create({ freebsd: true, sysctl: { 'net.inet.tcp.drop_synfin': 1 } });
  const fd = await listener(p);
  await p.send('SF', 17, 0, { win: 32767, opts: MSS_SACK });
  await p.run(1000);
  t.deepEqual(p.drain(), []);
  await p.send('S', 27, 0, { win: 32767, opts: MSS_SACK });
  t.is(p.next(), 'S. 0:0(0) ack 28 win 65535 <mss 1460,sackOK,eol,eol>');
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('rcv-fin-syn-sent / rcv-rst-syn-sent: ignored; the SYN is retransmitted and the handshake completes', async (t) => {
  for (const flags of ['F', 'R']) {
    const p = await Peer.create({ freebsd: true });
    const fd = await p.socket();
    await p.run(1000);
    await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
    await p.sim.settle();
    t.is(p.next(), SYN_DEFAULT);
    await p.run(100);
    await p.send(flags, 0, 0, { win: 32767 });
    await p.run(900);
    t.is(p.next(), SYN_DEFAULT);
    t.is(await soError(p, fd), 0);
    await p.send('S.', 0, 1, { win: 32767, opts: MSS_SACK });
    t.is(p.next(), '. 1:1(0) ack 1 win 65535');
    await p.k.sys.close(fd);
    t.is(p.next(), 'F. 1:1(0) ack 1 win 65535');
    await p.send('F.', 1, 2, { win: 32767 });
    t.is(p.next(), '. 2:2(0) ack 2 win 65535');
  }
});

test('rcv-rst-ack-syn-sent: RST-ACK for our SYN gives ECONNREFUSED; outside the window it is ignored', async (t) => {
  {
    const p = await Peer.create({ freebsd: true });
    const fd = await p.socket();
    await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
    await p.sim.settle();
    p.next();
    await p.run(100);
    await p.send('R.', 1, 1, { win: 32767 });
    t.is(await soError(p, fd), ECONNREFUSED);
    await p.k.sys.close(fd);
  }
  {
    const p = await Peer.create({ freebsd: true });
    const fd = await p.socket();
    await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
    await p.sim.settle();
    p.next();
    await p.run(100);
    await p.send('R.', 2, 2, { win: 32767 });
    await p.run(900);
    t.is(p.next(), SYN_DEFAULT);
    t.is(await soError(p, fd), 0);
    await p.k.sys.close(fd);
  }
});

test('rcv-syn-ack-syn-sent: an ACK below our ISN+1 gets RST; data on a SYN-ACK is acknowledged and read', async (t) => {
  {
    const p = await Peer.create({ freebsd: true });
    const fd = await p.socket();
    await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
    await p.sim.settle();
    p.next();
    await p.run(100);
    await p.send('S.', 0, 0, { win: 32767, opts: MSS_SACK });
    t.is(p.next(), 'R 0:0(0) win 0');
    await p.run(900);
    t.is(p.next(), SYN_DEFAULT);
    await p.send('S.', 0, 1, { win: 32767, opts: MSS_SACK });
    t.is(p.next(), '. 1:1(0) ack 1 win 65535');
    await p.k.sys.close(fd);
  }
  {
    const p = await Peer.create({ freebsd: true });
    const fd = await p.socket();
    await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
    await p.sim.settle();
    p.next();
    await p.run(100);
    await p.send('S.', 0, 1, { win: 32767, opts: MSS_SACK, data: 3 });
    t.is(p.next(), '. 1:1(0) ack 4 win 65535');
    t.is(await p.state(fd), 'ESTABLISHED');
    await p.run(100);
    t.is((await p.k.sys.read(fd, 100)).length, 3);
    await p.k.sys.close(fd);
    t.is(p.next(), 'F. 1:1(0) ack 4 win 65535');
    await p.send('F.', 4, 2, { win: 32767 });
    t.is(p.next(), '. 2:2(0) ack 5 win 65535');
  }
});

test('rcv-syn-syn-sent: simultaneous open through SYN_RCVD to ESTABLISHED', async (t) => {
  const p = await Peer.create({ freebsd: true });
  const fd = await p.socket(false);
  const c = p.k.sys.connect(fd, p.peerAddr());
  await p.sim.settle();
  t.is(p.next(), SYN_DEFAULT);
  await p.run(100);
  await p.send('S', 0, 0, { win: 32767, opts: MSS_SACK });
  t.is(p.next(), 'S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>');
  t.is(await p.state(fd), 'SYN_RCVD');
  await p.run(100);
  await p.send('.', 1, 1, { win: 65535 });
  await c;
  t.is(await p.state(fd), 'ESTABLISHED');
  await p.k.sys.close(fd);
  t.is(p.next(), 'F. 1:1(0) ack 1 win 65535');
  await p.send('F.', 1, 2, { win: 32767 });
  t.is(p.next(), '. 2:2(0) ack 2 win 65535');
  await p.finish(t);
});

test('rcv-rst-*: RST at the left edge resets ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, FIN_WAIT_2, CLOSING, LAST_ACK', async (t) => {
  const cases: Array<[string, (p: Peer, fd: number) => Promise<number>]> = [
    ['ESTABLISHED', async () => 1],
    ['CLOSE_WAIT', async (p) => { await p.send('F.', 1, 1, { win: 32767 }); p.drain(); return 2; }],
    ['FIN_WAIT_1', async (p, fd) => { await p.k.sys.shutdown(fd, SHUT_WR); p.drain(); return 1; }],
    ['FIN_WAIT_2', async (p, fd) => { await p.k.sys.shutdown(fd, SHUT_WR); await p.send('.', 1, 2, { win: 32767 }); p.drain(); return 1; }],
    ['CLOSING', async (p, fd) => { await p.k.sys.shutdown(fd, SHUT_WR); await p.send('F.', 1, 1, { win: 32767 }); p.drain(); return 2; }],
    ['LAST_ACK', async (p, fd) => { await p.send('F.', 1, 1, { win: 32767 }); await p.k.sys.shutdown(fd, SHUT_WR); p.drain(); return 2; }],
  ];
  for (const [state, setup] of cases) {
    const { p, fd } = await established(t, { 'net.inet.tcp.insecure_rst': 0 });
    const seq = await setup(p, fd);
    t.is(await p.state(fd), state);
    await p.run(100);
    await p.send('R', seq, 0, { win: 32767 });
    t.is(await soError(p, fd), ECONNRESET, state);
    t.is(await p.state(fd), 'CLOSED', state);
    t.deepEqual(p.drain(), [], state);
    await p.k.sys.close(fd);
  }
});

test('rcv-rst-established: outside the window ignored; right edge resets only with insecure_rst', async (t) => {
  {
    const { p, fd } = await established(t, { 'net.inet.tcp.insecure_rst': 0 });
    await p.run(100);
    await p.send('R', 65701, 0, { win: 32767 });
    t.is(await soError(p, fd), 0);
    t.deepEqual(p.drain(), []);
    await p.send('R', 65700, 0, { win: 32767 });
    t.is(p.next(), '. 1:1(0) ack 1 win 65535', 'RFC 5961 §3.2: a challenge ACK');
    t.is(await p.state(fd), 'ESTABLISHED');
    await p.k.sys.close(fd);
    t.is(p.next(), 'F. 1:1(0) ack 1 win 65535');
  }
  {
    const { p, fd } = await established(t, { 'net.inet.tcp.insecure_rst': 1 });
    await p.run(100);
    await p.send('R', 65700, 0, { win: 32767 });
    t.is(await soError(p, fd), ECONNRESET);
    await p.k.sys.close(fd);
  }
});

test('rcv-rst-syn-rcvd: an RST at IRS+1 removes the SYN cache entry', async (t) => {
  const p = await Peer.create({ freebsd: true, sysctl: { 'net.inet.tcp.insecure_rst': 0 } });
  const fd = await listener(p);
  t.deepEqual(await p.states(), ['LISTEN']);
  await p.send('S', 0, 0, { win: 32767, opts: MSS_SACK });
  t.is(p.next(), 'S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>');
  t.is(await p.k.sys.getsockopt(fd, SOL_SOCKET, SO_RCVBUF), 65536);
  await p.run(100);
  t.deepEqual(await p.states(), ['LISTEN', 'SYN_RCVD']);
  await p.run(100);
  await p.send('R', 1, 0, { win: 32767 });
  await p.run(100);
  t.deepEqual(await p.states(), ['LISTEN']);
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('rcv-rst-time-wait: an RST does not end TIME_WAIT (RFC 1337)', async (t) => {
  const { p, fd } = await established(t, { 'net.inet.tcp.insecure_rst': 0 });
  await p.run(100);
  await p.k.sys.shutdown(fd, SHUT_WR);
  t.is(p.next(), 'F. 1:1(0) ack 1 win 65535');
  await p.run(100);
  await p.send('F.', 1, 2, { win: 32767 });
  t.is(p.next(), '. 2:2(0) ack 2 win 65535');
  await p.run(100);
  await p.send('R', 2, 0, { win: 32767 });
  await p.run(100);
  t.deepEqual(await p.states(), ['TIME_WAIT']);
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('rcv-ack-time-wait: a segment in TIME_WAIT is answered with an ACK', async (t) => {
  const { p, fd } = await established(t);
  await p.run(100);
  await p.k.sys.shutdown(fd, SHUT_WR);
  t.is(p.next(), 'F. 1:1(0) ack 1 win 65535');
  await p.run(100);
  await p.send('F.', 1, 2, { win: 32767 });
  t.is(p.next(), '. 2:2(0) ack 2 win 65535');
  await p.run(100);
  await p.send('.', 3, 2, { win: 32767 });
  t.is(p.next(), '. 2:2(0) ack 2 win 65535');
  await p.run(100);
  t.deepEqual(await p.states(), ['TIME_WAIT']);
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('rcv-syn-established: RFC 5961 challenge ACK; insecure_syn resets with RST-ACK', async (t) => {
  {
    const { p, fd } = await established(t, { 'net.inet.tcp.insecure_syn': 0 });
    await p.run(100);
    await p.send('S', 1, 0, { win: 32767, opts: MSS_SACK });
    t.is(p.next(), '. 1:1(0) ack 1 win 65535');
    t.is(await soError(p, fd), 0);
    await p.k.sys.close(fd);
    t.is(p.next(), 'F. 1:1(0) ack 1 win 65535');
    await p.send('F.', 1, 2, { win: 32767 });
    t.is(p.next(), '. 2:2(0) ack 2 win 65535');
  }
  {
    const { p, fd } = await established(t, { 'net.inet.tcp.insecure_syn': 1 });
    await p.run(100);
    await p.send('S', 1, 0, { win: 32767, opts: MSS_SACK });
    t.is(p.next(), 'R. 1:1(0) ack 1 win 0');
    t.is(await soError(p, fd), ECONNRESET);
    await p.k.sys.close(fd);
  }
});

test('rcv-syn-time-wait (FreeBSD branch): a SYN at rcv_nxt in TIME_WAIT is dropped, an old ACK answered, TIME_WAIT stays', async (t) => {
  const p = await Peer.create({ freebsd: true, sysctl: { 'net.inet.tcp.insecure_syn': 0 } });
  const lfd = await listener(p, 2);
  await p.send('S', 0, 0, { win: 32767, opts: MSS_SACK });
  t.is(p.next(), 'S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>');
  await p.run(100);
  await p.send('.', 1, 1, { win: 32767 });
  const { fd } = await p.k.sys.accept(lfd);
  t.is(await p.k.sys.getsockopt(fd, SOL_SOCKET, SO_RCVBUF), 65700);
  await p.run(100);
  await p.k.sys.shutdown(fd, SHUT_WR);
  t.is(p.next(), 'F. 1:1(0) ack 1 win 65535');
  await p.run(100);
  await p.send('F.', 1, 2, { win: 32767 });
  t.is(p.next(), '. 2:2(0) ack 2 win 65535');
  await p.run(100);
  await p.send('S', 2, 0, { win: 32767, opts: MSS_SACK });
  t.deepEqual(p.drain(), [], 'FreeBSD tcp_twcheck: a SYN that cannot reopen is dropped');
  await p.run(100);
  await p.send('.', 1, 2, { win: 32767 });
  t.is(p.next(), '. 2:2(0) ack 2 win 65535');
  await p.run(100);
  t.deepEqual((await p.states()).sort(), ['LISTEN', 'TIME_WAIT']);
  t.is(await p.k.sys.ext('tcpdrop', { state: 'TIME_WAIT' }), 1);
  await p.k.sys.close(fd);
  await p.k.sys.close(lfd);
  t.deepEqual(await p.states(), []);
  await p.finish(t);
});

/* ------------------------------------------------------------------------ */
/* rcv-icmp/ */

/** An ICMP error from the peer quoting our SYN with sequence `rel` (relative to our ISN). */
function icmpAboutSyn(p: Peer, type: number, code: number, rel: number): Uint8Array {
  const quoted = new Uint8Array(28);
  const q = ipPacket({ src: KERNEL_ADDR, dst: PEER_ADDR, p: 6, payload: new Uint8Array(8) });
  quoted.set(q.subarray(0, 20));
  const dv = new DataView(quoted.buffer);
  dv.setUint16(20, p.kport);
  dv.setUint16(22, p.pport);
  dv.setUint32(24, (p.kiss + rel) >>> 0);
  return ipPacket({ src: PEER_ADDR, dst: KERNEL_ADDR, p: 1, payload: icmpMessage(type, code, 0, quoted) });
}

test('rcv-icmp-hard-error: honoured only when the quoted sequence is SND.UNA', async (t) => {
  // host prohibited (3/10) and protocol unreachable (3/2) refuse the connect.
  for (const code of [10, 2]) {
    const p = await Peer.create({ freebsd: true, sysctl: { 'net.inet.tcp.icmp_may_rst': 1 } });
    const fd = await p.socket();
    await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
    await p.sim.settle();
    p.next();
    for (const rel of [-1, 1]) {
      p.injectIp(icmpAboutSyn(p, 3, code, rel));
      await p.run(100);
      t.is(await soError(p, fd), 0, `code ${code}, seq ${rel}`);
    }
    p.injectIp(icmpAboutSyn(p, 3, code, 0));
    await p.run(100);
    t.is(await soError(p, fd), ECONNREFUSED, `code ${code}`);
    await p.k.sys.close(fd);
  }
});

test('rcv-icmp-hard-error-ignored: with icmp_may_rst=0 no ICMP error aborts a connect', async (t) => {
  const p = await Peer.create({ freebsd: true, sysctl: { 'net.inet.tcp.icmp_may_rst': 0 } });
  const fd = await p.socket();
  await p.run(1000);
  await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
  await p.sim.settle();
  t.is(p.next(), SYN_DEFAULT);
  const errors: Array<[number, number]> = [
    [3, 0], [3, 1], [3, 2], [3, 3], [3, 5], [3, 6], [3, 7], [3, 8], [3, 9], [3, 10], [3, 11], [3, 12], [3, 13], [3, 14],
    [3, 15], [5, 0], [4, 0], [11, 0], [11, 1], [12, 0], [12, 1], [12, 2],
  ];
  for (const [type, code] of errors) {
    p.injectIp(icmpAboutSyn(p, type, code, 0));
    await p.run(10);
    t.is(await soError(p, fd), 0, `type ${type} code ${code}`);
  }
  await p.run(1000 - 10 * errors.length);
  t.is(p.next(), SYN_DEFAULT, 'the SYN is retransmitted on schedule');
  await p.k.sys.close(fd);
  await p.finish(t);
});

/** A connect whose SYN gets ICMP time exceeded in transit back, with icmp_may_rst as given; 100 ms later. */
async function ttlExceededConnect(icmpMayRst: number): Promise<{ p: Peer; fd: number }> {
  const p = await Peer.create({ freebsd: true, sysctl: { 'net.inet.tcp.icmp_may_rst': icmpMayRst } });
  const fd = await p.socket();
  await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
  await p.sim.settle();
  p.next();
  p.injectIp(icmpAboutSyn(p, 11, 0, 0));
  await p.run(100);
  return { p, fd };
}

test('rcv-icmp-hard-error-ttl-exceeded: with icmp_may_rst=1 (FreeBSD) time exceeded in transit aborts a connect with EHOSTUNREACH', async (t) => {
  const { p, fd } = await ttlExceededConnect(1);
  t.is(await soError(p, fd), EHOSTUNREACH);
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('rcv-icmp-ttl-exceeded: with icmp_may_rst=0 (NetBSD) time exceeded is no error at all: the connect goes on and times out on its own', async (t) => {
  const { p, fd } = await ttlExceededConnect(0);
  t.is(await soError(p, fd), 0, 'the connect goes on');
  await p.run(1000);
  t.is(p.next(), SYN_DEFAULT, 'the SYN is retransmitted on schedule');
  await p.run(80_000);
  t.is(await soError(p, fd), ETIMEDOUT, 'the connect times out on its own ("Connection timed out", as NetBSD\'s t_forwarding expects)');
  await p.k.sys.close(fd);
});

/* ------------------------------------------------------------------------ */
/* rcv-data-segments/ */

async function acceptedWith(t: import('ava').ExecutionContext, sysctl: Record<string, number> = {}): Promise<{ p: Peer; fd: number }> {
  const p = await Peer.create({ freebsd: true, sysctl });
  const lfd = await listener(p);
  await p.send('S', 0, 0, { win: 65535, opts: MSS_SACK });
  t.is(p.next(), 'S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>');
  await p.run(10);
  await p.send('.', 1, 1, { win: 65535 });
  const { fd } = await p.k.sys.accept(lfd);
  await p.k.sys.close(lfd);
  return { p, fd };
}

async function peek(p: Peer, fd: number): Promise<number> {
  return (await p.k.sys.recv(fd, 1024, MSG_PEEK)).length;
}

test('rcv-data-segments/overlapping-100-300: SACK blocks, most recent first, and D-SACK', async (t) => {
  const { p, fd } = await acceptedWith(t);
  await p.send('.', 1, 1, { data: 99 });
  t.is(await peek(p, fd), 99);
  await p.send('.', 200, 1, { data: 100 });
  t.is(p.next(), '. 1:1(0) ack 100 win 65535 <nop,nop,sack 200:300>');
  await p.send('.', 400, 1, { data: 100 });
  t.is(p.next(), '. 1:1(0) ack 100 win 65535 <nop,nop,sack 400:500 200:300>');
  await p.send('.', 600, 1, { data: 100 });
  t.is(p.next(), '. 1:1(0) ack 100 win 65535 <nop,nop,sack 600:700 400:500 200:300>');
  t.is(await peek(p, fd), 99);
  await p.send('.', 100, 1, { data: 200 });
  t.is(p.next(), '. 1:1(0) ack 300 win 65401 <nop,nop,sack 200:300 600:700 400:500>');
  t.is(await peek(p, fd), 299);
  await p.send('.', 1, 1, { data: 799 });
  t.is(p.next(), '. 1:1(0) ack 800 win 64901 <nop,nop,sack 1:300>');
  t.is((await p.k.sys.recv(fd, 1024, 0)).length, 799);
  await p.run(100);
  await p.send('F.', 800, 1);
  t.is(p.next(), '. 1:1(0) ack 801 win 65535');
  t.is((await p.k.sys.recv(fd, 1024, 0)).length, 0);
  await p.k.sys.close(fd);
  t.is(p.next(), 'F. 1:1(0) ack 801 win 65535');
  await p.run(10);
  await p.send('.', 801, 2);
  t.deepEqual(await p.states(), []);
  await p.finish(t);
});

test('rcv-data-segments/reordering-21435 and -54321: immediate SACKs, delayed ACK 40 ms in order', async (t) => {
  {
    const { p, fd } = await acceptedWith(t, { 'net.inet.tcp.delacktime': 40 });
    await p.send('.', 2, 1, { data: 2 });
    t.is(p.next(), '. 1:1(0) ack 1 win 65535 <nop,nop,sack 2:4>');
    await p.send('.', 1, 1, { data: 1 });
    t.is(p.next(), '. 1:1(0) ack 4 win 65535');
    t.is(await peek(p, fd), 3);
    await p.send('.', 8, 1, { data: 8 });
    t.is(p.next(), '. 1:1(0) ack 4 win 65535 <nop,nop,sack 8:16>');
    t.is(await peek(p, fd), 3);
    await p.send('.', 4, 1, { data: 4 });
    t.is(p.next(), '. 1:1(0) ack 16 win 65535');
    t.is(await peek(p, fd), 15);
    const t0 = p.now;
    await p.send('.', 16, 1, { data: 16 });
    t.deepEqual(p.drain(), []);
    await p.run(100);
    const ack = p.nextSeg()!;
    t.is(ack.text, '. 1:1(0) ack 32 win 65535');
    t.is(ack.t - t0, 40);
    t.is(await peek(p, fd), 31);
    t.is((await p.k.sys.recv(fd, 1024, 0)).length, 31);
    await p.send('F.', 32, 1);
    t.is(p.next(), '. 1:1(0) ack 33 win 65535');
    await p.k.sys.close(fd);
    t.is(p.next(), 'F. 1:1(0) ack 33 win 65535');
  }
  {
    const { p, fd } = await acceptedWith(t);
    await p.send('.', 16, 1, { data: 16 });
    t.is(p.next(), '. 1:1(0) ack 1 win 65535 <nop,nop,sack 16:32>');
    await p.send('.', 8, 1, { data: 8 });
    t.is(p.next(), '. 1:1(0) ack 1 win 65535 <nop,nop,sack 8:32>');
    await p.send('.', 4, 1, { data: 4 });
    t.is(p.next(), '. 1:1(0) ack 1 win 65535 <nop,nop,sack 4:32>');
    await p.send('.', 2, 1, { data: 2 });
    t.is(p.next(), '. 1:1(0) ack 1 win 65535 <nop,nop,sack 2:32>');
    await p.send('.', 1, 1, { data: 1 });
    t.is(p.next(), '. 1:1(0) ack 32 win 65535');
    t.is(await peek(p, fd), 31);
    await p.k.sys.close(fd);
  }
});

/* ------------------------------------------------------------------------ */
/* socket-api/ */

test('socket-api getsockopt: TCP_KEEPIDLE and TCP_KEEPINIT inherited from the sysctls (ms → s)', async (t) => {
  const p = await Peer.create({ freebsd: true });
  let fd = await p.socket();
  t.is(await p.k.sys.getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE), 7200);
  t.is(await p.k.sys.getsockopt(fd, IPPROTO_TCP, TCP_KEEPINIT), 75);
  await p.k.sys.close(fd);
  await p.k.sys.sysctlSet('net.inet.tcp.keepidle', 15000);
  await p.k.sys.sysctlSet('net.inet.tcp.keepinit', 15000);
  fd = await p.socket();
  t.is(await p.k.sys.getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE), 15);
  t.is(await p.k.sys.getsockopt(fd, IPPROTO_TCP, TCP_KEEPINIT), 15);
  await p.k.sys.close(fd);
  await p.finish(t);
});

