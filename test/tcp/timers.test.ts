/*
 * TCP's timers on the virtual clock (BSD tcp_timer.c): TIME_WAIT for
 * 2×MSL, retransmission backoff to ETIMEDOUT, the SYN schedule and the
 * connection-establishment limit, keepalive probes and their timeout, the
 * persist timer's window probes, the delayed ACK, and the FIN_WAIT_2
 * limit of an orphaned connection. Hours of protocol time run in
 * milliseconds, deterministically.
 *
 *     kernel under test  hub0 10.0.0.1/24 ══ hub ══ scripted peer 10.0.0.2:8080
 */
import test from 'ava';
import { ETIMEDOUT } from '../../kern/errno.js';
import { SOL_SOCKET, SO_ERROR, SO_KEEPALIVE } from '../../net/socket.js';
import { IPPROTO_TCP } from '../../net/wire/ipv4.js';
import { TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINTVL } from '../../net/inet/tcp/usrreq.js';
import { inet } from '../../net/inet/inet.js';
import { Peer, errnoOf } from './harness.js';
import { createSimHost, rumpInit } from '../../index.js';
import { AF_INET, SOCK_STREAM } from '../../kern/sys.js';

async function soError(p: Peer, fd: number): Promise<number> {
  return (await p.k.sys.getsockopt(fd, SOL_SOCKET, SO_ERROR)) as number;
}

/** Times (relative to `t0`) of the segments sent so far; clears the queue. */
function times(p: Peer, t0: number): number[] {
  return p.out.splice(0).map((s) => Math.round(s.t - t0));
}

test('TIME_WAIT lasts exactly 2×MSL (net.inet.tcp.msl), then the PCB is gone', async (t) => {
  for (const msl of [30_000, 1_000]) {
    const p = await Peer.create({ sysctl: { 'net.inet.tcp.msl': msl } });
    const { fd } = await p.activeOpen();
    await p.k.sys.close(fd);
    t.is(p.next(), 'F. 1:1(0) ack 1 win 33580');
    await p.send('F.', 1, 2);
    t.is(p.next(), '. 2:2(0) ack 2 win 33580');
    await p.run(2 * msl - 1);
    t.deepEqual(await p.states(), ['TIME_WAIT']);
    await p.run(1);
    t.deepEqual(await p.states(), []);
    t.is(inet(p.k).tcbtable.size, 0);
  }
});

test('TIME_WAIT on the loopback address lasts 2 × net.inet.tcp.mslt.loopback (NetBSD: 1 s); with mslt.enable 0, 2 × msl', async (t) => {
  for (const [enable, wait] of [[1, 2_000], [0, 60_000]] as const) {
    const sim = createSimHost({ seed: 9 });
    const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet'], host: sim });
    await k.sys.sysctlSet('net.inet.tcp.mslt.enable', enable);
    const lo = { family: AF_INET, addr: '127.0.0.1', port: 7 };
    const lfd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
    await k.sys.bind(lfd, lo);
    await k.sys.listen(lfd, 5);
    const cfd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
    const connected = k.sys.connect(cfd, lo);
    await sim.run(1);
    await connected;
    const { fd: sfd } = await k.sys.accept(lfd);
    await k.sys.close(cfd);
    await sim.run(1);
    await k.sys.close(sfd);
    await sim.run(1);
    await k.sys.close(lfd);
    const states = async (): Promise<string[]> => ((await k.sys.ext('pcblist')) as Array<{ state: string }>).map((p) => p.state);
    t.deepEqual(await states(), ['TIME_WAIT'], 'the closer waits');
    await sim.run(wait - 10);
    t.deepEqual(await states(), ['TIME_WAIT'], `still waiting just before ${wait} ms`);
    await sim.run(20);
    t.deepEqual(await states(), [], `gone after ${wait} ms`);
    await k.halt();
  }
});

test('retransmission timeout: RFC 6298 backoff doubling to 64 s, 12 retransmissions, then ETIMEDOUT', async (t) => {
  const p = await Peer.create();
  const { fd } = await p.activeOpen();
  await p.k.sys.write(fd, new Uint8Array(100));
  await p.sim.settle();
  const t0 = p.now;
  t.is(p.next(), 'P. 1:101(100) ack 1 win 33580');
  await p.run(20 * 60_000);
  const sent = p.out.splice(0);
  t.true(sent.slice(0, 12).every((s) => s.text === 'P. 1:101(100) ack 1 win 33580'), sent.map((s) => s.text).join('\n'));
  t.deepEqual(sent.slice(0, 12).map((s) => Math.round(s.t - t0)),
    [1000, 3000, 7000, 15000, 31000, 63000, 127000, 191000, 255000, 319000, 383000, 447000]);
  t.is(sent[12]?.text, 'R. 101:101(0) ack 1 win 0', 'the drop resets the peer');
  t.is(await errnoOf(p.k.sys.read(fd, 10)), 'ETIMEDOUT');
  t.is(inet(p.k).tcpstat.timeoutdrop, 1);
  t.is(await p.state(fd), 'CLOSED');
  await p.finish(t);
});

test('SYN schedule 0, 1, 3, 7, 15, 31, 63 s (NetBSD defaults), and keepinit gives up at 75 s', async (t) => {
  const p = await Peer.create();
  const fd = await p.socket();
  await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
  await p.sim.settle();
  const t0 = p.now;
  await p.run(80_000);
  t.deepEqual(times(p, t0), [0, 1000, 3000, 7000, 15000, 31000, 63000]);
  t.is(await soError(p, fd), ETIMEDOUT);
  t.is(inet(p.k).tcpstat.keepdrops, 1);
  await p.finish(t);
});

test('keepalive: probes after TCP_KEEPIDLE every TCP_KEEPINTVL; an answer keeps the connection, TCP_KEEPCNT silences drop it', async (t) => {
  const p = await Peer.create();
  const { fd } = await p.activeOpen();
  await p.k.sys.setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  await p.k.sys.setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, 10);
  await p.k.sys.setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, 2);
  await p.k.sys.setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, 3);
  const t0 = p.now;
  await p.run(10_000);
  const probe = p.nextSeg()!;
  t.is(probe.text, '. 0:0(0) ack 1 win 33580', 'RFC 1122 §4.2.3.6: SEG.SEQ = SND.NXT-1');
  t.is(Math.round(probe.t - t0), 10_000);
  // The peer answers: the connection is alive and idles again.
  await p.send('.', 1, 1);
  const t1 = p.now;
  await p.run(10_000);
  t.is(Math.round(p.nextSeg()!.t - t1), 10_000);
  await p.run(20_000);
  const rest = p.out.splice(0);
  t.deepEqual(rest.map((x) => `${Math.round(x.t - t1)} ${x.text}`), [
    '12000 . 0:0(0) ack 1 win 33580', '14000 . 0:0(0) ack 1 win 33580', '16000 R. 1:1(0) ack 1 win 0',
  ], 'keepidle + keepcnt × keepintvl of silence: dropped with an RST');
  t.is(await errnoOf(p.k.sys.read(fd, 1)), 'ETIMEDOUT');
  t.is(inet(p.k).tcpstat.keepdrops, 1);
  t.is(inet(p.k).tcpstat.keepprobe, 4);
  await p.finish(t);
});

test('persist: a zero window gets 1-byte probes, backing off from 5 s; the window opening resumes the data', async (t) => {
  const p = await Peer.create();
  const { fd } = await p.activeOpen([['mss', 1460]], 0);
  await p.k.sys.write(fd, new Uint8Array(3000));
  await p.sim.settle();
  t.deepEqual(p.drain(), [], 'nothing goes into a zero window');
  const t0 = p.now;
  await p.run(30_000);
  const probes = p.out.splice(0);
  t.true(probes.every((s) => s.text === '. 1:2(1) ack 1 win 33580'), probes.map((s) => s.text).join(', '));
  // The backed-off RTO (1, 2, 4, 8 s...) kept within [5 s, 60 s] (TCPTV_PERSMIN/MAX).
  t.deepEqual(probes.map((s) => Math.round(s.t - t0)), [5000, 10000, 15000, 23000]);
  t.is(inet(p.k).tcpstat.sndprobe, 4);
  // The peer keeps the probe byte and opens its window: the rest follows.
  await p.send('.', 1, 2, { win: 65535 });
  t.deepEqual(p.drain(), ['. 2:1462(1460) ack 1 win 33580', '. 1462:2922(1460) ack 1 win 33580', 'P. 2922:3001(79) ack 1 win 33580']);
  await p.finish(t);
});

test('delayed ACK: one segment is acknowledged after delacktime, the second full segment at once', async (t) => {
  const p = await Peer.create({ sysctl: { 'net.inet.tcp.delacktime': 100 } });
  const { fd } = await p.passiveOpen();
  const t0 = p.now;
  await p.send('.', 1, 1, { data: 1000 });
  t.deepEqual(p.drain(), []);
  await p.run(200);
  const ack = p.nextSeg()!;
  t.is(ack.text, '. 1:1(0) ack 1001 win 32580');
  t.is(Math.round(ack.t - t0), 100);
  await p.send('.', 1001, 1, { data: 1460 });
  t.deepEqual(p.drain(), []);
  await p.send('.', 2461, 1, { data: 1460 });
  t.deepEqual(p.drain(), ['. 1:1(0) ack 3921 win 29660'], 'every second full segment');
  t.is(inet(p.k).tcpstat.delack, 1);
  await p.k.sys.close(fd);
  await p.finish(t);
});

test('FIN_WAIT_2 of a closed socket ends after 60 s of silence', async (t) => {
  const p = await Peer.create();
  const { fd } = await p.activeOpen();
  await p.k.sys.close(fd);
  t.is(p.next(), 'F. 1:1(0) ack 1 win 33580');
  await p.send('.', 1, 2);
  t.deepEqual(await p.states(), ['FIN_WAIT_2']);
  await p.run(59_999);
  t.deepEqual(await p.states(), ['FIN_WAIT_2']);
  await p.run(1);
  t.deepEqual(await p.states(), []);
  await p.finish(t);
});

test('an idle established connection holds no timer: its callout goes at establishment unless SO_KEEPALIVE keeps one; TCP_KEEPIDLE on one socket leaves the others alone', async (t) => {
  const sim = createSimHost({ seed: 5 });
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet'], host: sim });
  const lo = { family: AF_INET, addr: '127.0.0.1', port: 9 };
  const lfd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
  await k.sys.bind(lfd, lo);
  await k.sys.listen(lfd, 5);
  const base = k.callouts.count;
  const open = async (keepalive: boolean): Promise<[number, number]> => {
    const cfd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
    if (keepalive) await k.sys.setsockopt(cfd, SOL_SOCKET, SO_KEEPALIVE, 1);
    const connected = k.sys.connect(cfd, lo);
    await sim.run(1);
    await connected;
    const { fd } = await k.sys.accept(lfd);
    await sim.run(1000);
    return [cfd, fd];
  };
  const idle = await open(false);
  const idle2 = await open(false);
  t.is(k.callouts.count, base, 'two idle pairs, no pending callout');
  const kept = await open(true);
  t.is(k.callouts.count, base + 1, 'the keepalive end has its timer');
  await k.sys.setsockopt(idle[0], IPPROTO_TCP, TCP_KEEPIDLE, 30);
  t.is(await k.sys.getsockopt(idle[0], IPPROTO_TCP, TCP_KEEPIDLE), 30);
  t.is(await k.sys.getsockopt(idle2[0], IPPROTO_TCP, TCP_KEEPIDLE), 7200);
  t.is(await k.sys.getsockopt(kept[0], IPPROTO_TCP, TCP_KEEPIDLE), 7200);
  // The pairs still work: data both ways arms and then drops the timers again.
  await k.sys.send(idle[0], new TextEncoder().encode('ping'));
  await sim.run(5);
  t.is(new TextDecoder().decode(await k.sys.recv(idle[1], 16)), 'ping');
  await sim.run(5000);
  t.is(k.callouts.count, base + 1);
  await k.halt();
});
