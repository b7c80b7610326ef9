/*
 * rump.ping: output shape, statistics and exit codes as in netbsd-tools.txt,
 * NetBSD's send schedule and waiting rules, on virtual time.
 *
 *   rump.ping ── raw ICMP socket ── scripted peer (sim host clock)
 *
 * The peer stands in for a kernel's raw socket: it takes each echo request
 * the tool sends and, on the sim host's clock, queues the reply (IP header
 * and ICMP, BSD raw-socket style) after a round trip the test chooses, or
 * nothing for a dead host, or an ICMP error from a router.
 */
import test from 'ava';
import { createSimHost, type SimHost } from '../../hypercall/sim.js';
import { Errno, EAGAIN, EAFNOSUPPORT } from '../../kern/errno.js';
import { POLLIN } from '../../kern/select.js';
import type { PollFd, RecvResult, Sockaddr } from '../../kern/sys.js';
import {
  ICMP_ECHO, ICMP_ECHOREPLY, ICMP_UNREACH, ICMP_UNREACH_HOST, icmpId, icmpSeq, icmpSetChecksum, icmpType, icmpWriteHeader,
} from '../../net/wire/icmp.js';
import { ipWriteHeader, IPPROTO_ICMP } from '../../net/wire/ipv4.js';
import { parseInAddr } from '../../net/wire/inaddr.js';
import { main } from '../../bin/rump.ping.js';
import type { SysLike, ToolClock, ToolIO } from '../../bin/common.js';
import { capture, netbsdTranscript } from './helpers.js';

interface PeerOptions {
  /** Round trip in ms for request `seq`; null: no answer. */
  rtt?: (seq: number) => number | null;
  ttl?: number;
  /** Answer every request twice. */
  duplicate?: boolean;
  /** Instead of answering, a router sends this ICMP unreachable code. */
  unreachableFrom?: string;
  /** The socket sees our own requests too (ping to a local address). */
  echoOwnRequests?: boolean;
}

const OURS = parseInAddr('192.0.2.1')!;

/** An IPv4 datagram around `payload`, as a BSD raw socket hands it up. */
function ipDatagram(src: number, ttl: number, payload: Uint8Array): Uint8Array {
  const d = new Uint8Array(20 + payload.length);
  ipWriteHeader(d, 0, 0, d.length, 1, 0, ttl, IPPROTO_ICMP, src, OURS);
  d.set(payload, 20);
  return d;
}

class Peer {
  readonly sent: Uint8Array[] = [];
  private readonly queue: RecvResult[] = [];
  private wake: (() => void) | null = null;
  closed = 0;

  constructor(
    readonly sim: SimHost,
    readonly o: PeerOptions = {},
  ) {}

  private deliver(data: Uint8Array, from: string): void {
    this.queue.push({ data, from: { family: 2, addr: from, port: 0 }, flags: 0 });
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  readonly sys: SysLike = {
    socket: async () => 3,
    close: async () => {
      this.closed++;
    },
    bind: async () => undefined,
    setsockopt: async () => undefined,
    sendto: async (_fd: number, data: Uint8Array, _flags: number, to: Sockaddr | null) => {
      const req = data.slice();
      this.sent.push(req);
      const dst = parseInAddr(to!.addr)!;
      if (this.o.echoOwnRequests) this.deliver(ipDatagram(OURS, 64, req), '192.0.2.1');
      if (this.o.unreachableFrom) {
        const err = new Uint8Array(8 + 20 + 8);
        icmpWriteHeader(err, 0, ICMP_UNREACH, ICMP_UNREACH_HOST, 0);
        err.set(ipDatagram(OURS, 64, req).subarray(0, 28), 8);
        icmpSetChecksum(err, 0, err.length);
        const from = this.o.unreachableFrom;
        this.sim.armTimer(this.sim.now() + 3, () => this.deliver(ipDatagram(parseInAddr(from)!, 64, err), from));
        return data.length;
      }
      const rtt = this.o.rtt ? this.o.rtt(icmpSeq(req, 0)) : 0;
      if (rtt === null) return data.length;
      const reply = req.slice();
      reply[0] = ICMP_ECHOREPLY;
      icmpSetChecksum(reply, 0, reply.length);
      const copies = this.o.duplicate ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        this.sim.armTimer(this.sim.now() + rtt, () => this.deliver(ipDatagram(dst, this.o.ttl ?? 255, reply), to!.addr));
      }
      return data.length;
    },
    recvfrom: async () => {
      const r = this.queue.shift();
      if (!r) throw new Errno(EAGAIN, 'recvfrom');
      return r;
    },
    poll: (fds: PollFd[], timeout?: number) => {
      const ready = (): PollFd[] => fds.map((p) => ({ ...p, revents: this.queue.length ? POLLIN : 0 }));
      if (this.queue.length || timeout === 0) return Promise.resolve(ready());
      return new Promise<PollFd[]>((resolve) => {
        const t = timeout !== undefined && timeout > 0 ? this.sim.armTimer(this.sim.now() + timeout, () => {
          this.wake = null;
          resolve(ready());
        }) : null;
        this.wake = () => {
          if (t) this.sim.cancelTimer(t);
          resolve(ready());
        };
      });
    },
  } as unknown as SysLike;
}

/** The sim host's clock, as the tool's clock. */
function simClock(sim: SimHost): ToolClock {
  return { now: () => sim.now(), sleep: (ms) => new Promise((r) => sim.armTimer(sim.now() + ms, r)) };
}

/** Run rump.ping on virtual time until it exits. */
async function ping(argv: string[], o: PeerOptions = {}, extra: Partial<ToolIO> = {}) {
  const sim = createSimHost({ seed: 1 });
  const peer = new Peer(sim, o);
  const c = capture(peer.sys, {
    clock: simClock(sim),
    ...extra,
  });
  let status: number | undefined;
  void main(argv, c.io).then((s) => {
    status = s;
  });
  const t0 = sim.now();
  await sim.runUntil(() => status !== undefined, 120_000);
  if (status === undefined) throw new Error('ping did not finish');
  return { status, out: c.out(), err: c.err(), elapsed: sim.now() - t0, peer, sim };
}

test('ping -c 3 to a live host prints NetBSD\'s lines and statistics, exit 0', async (t) => {
  // NetBSD's rump kernel measured 10 ms, 0 ms, 0 ms (its clock ticks at 100 Hz).
  const rtts = [10, 0, 0];
  const r = await ping(['-c', '3', '-n', '192.0.2.2'], { rtt: (seq) => rtts[seq]! });
  const want = netbsdTranscript('rump.ping -c 3 -n 192.0.2.2');
  t.is(r.out, want.text);
  t.is(r.err, '');
  t.is(r.status, want.status!);
  t.is(r.elapsed, 2000, 'one request a second; done at the third reply');
  t.is(r.peer.closed, 1, 'the socket is closed');
});

test('the requests are ICMP echoes with our id, sequence from 0, 56 data bytes after the header', async (t) => {
  const r = await ping(['-c', '2', '-n', '192.0.2.2']);
  t.is(r.peer.sent.length, 2);
  const [a, b] = r.peer.sent as [Uint8Array, Uint8Array];
  t.is(a.length, 64);
  t.is(icmpType(a, 0), ICMP_ECHO);
  t.is(icmpSeq(a, 0), 0);
  t.is(icmpSeq(b, 0), 1);
  t.is(icmpId(a, 0), icmpId(b, 0));
  t.deepEqual([...a.subarray(16, 24)], [8, 9, 10, 11, 12, 13, 14, 15], 'after the timestamp, byte i is i');
});

test('ping -c 1 -w 1 to a dead host: no reply lines, 100% loss, exit 2 after one second', async (t) => {
  const r = await ping(['-c', '1', '-w', '1', '-n', '192.0.2.9'], { rtt: () => null });
  const want = netbsdTranscript('rump.ping -c 1 -w 1 -n 192.0.2.9');
  t.is(r.out, want.text);
  t.is(r.status, want.status!);
  t.is(r.elapsed, 1000);
});

test('without -w, a dead host is given ten intervals after the last request', async (t) => {
  const r = await ping(['-c', '2', '-n', '192.0.2.9'], { rtt: () => null });
  t.is(r.status, 2);
  t.is(r.elapsed, 1000 + 10_000);
  t.regex(r.out, /2 packets transmitted, 0 packets received, 100\.0% packet loss\n$/);
});

test('-w stops a run that still has requests to send', async (t) => {
  const r = await ping(['-c', '10', '-w', '2.5', '-n', '192.0.2.9'], { rtt: () => null });
  t.is(r.status, 2);
  t.is(r.elapsed, 2500);
  t.regex(r.out, /3 packets transmitted, 0 packets received/);
});

test('-q -i 0.01 -s 1400: only the header and the summary, packets 10 ms apart', async (t) => {
  const r = await ping(['-q', '-c', '5', '-i', '0.01', '-s', '1400', '-n', '198.51.100.2'], { rtt: () => 1 });
  t.is(r.status, 0);
  t.is(r.elapsed, 41);
  t.is(r.peer.sent[0]!.length, 1408);
  t.is(
    r.out,
    'PING 198.51.100.2 (198.51.100.2): 1400 data bytes\n\n----198.51.100.2 PING Statistics----\n' +
      '5 packets transmitted, 5 packets received, 0.0% packet loss\n' +
      'round-trip min/avg/max/stddev = 1.000000/1.000000/1.000000/0.000000 ms\n',
  );
});

test('duplicates are marked DUP! and counted apart', async (t) => {
  // As on NetBSD, the run ends at the last request's first reply, so its
  // duplicate is never read.
  const r = await ping(['-c', '2', '-n', '192.0.2.2'], { rtt: () => 2, duplicate: true, ttl: 64 });
  t.is(r.status, 0);
  t.is(
    r.out,
    'PING 192.0.2.2 (192.0.2.2): 56 data bytes\n' +
      '64 bytes from 192.0.2.2: icmp_seq=0 ttl=64 time=2.000000 ms\n' +
      '64 bytes from 192.0.2.2: icmp_seq=0 DUP! ttl=64 time=2.000000 ms\n' +
      '64 bytes from 192.0.2.2: icmp_seq=1 ttl=64 time=2.000000 ms\n\n' +
      '----192.0.2.2 PING Statistics----\n' +
      '2 packets transmitted, 2 packets received, +1 duplicates, 0.0% packet loss\n' +
      'round-trip min/avg/max/stddev = 2.000000/2.000000/2.000000/0.000000 ms\n',
  );
});

test('our own requests on the raw socket are not replies; -o stops at the first reply', async (t) => {
  const r = await ping(['-o', '-n', '192.0.2.1'], { rtt: () => 0, echoOwnRequests: true });
  t.is(r.status, 0);
  t.is(r.out.split('\n').filter((l) => l.includes('bytes from')).length, 1);
  t.regex(r.out, /1 packets transmitted, 1 packets received/);
});

test('an unreachable from a router is shown for our request; no reply means exit 2', async (t) => {
  const r = await ping(['-c', '1', '-w', '1', '-n', '203.0.113.5'], { unreachableFrom: '192.0.2.254' });
  t.is(r.status, 2);
  t.is(
    r.out,
    'PING 203.0.113.5 (203.0.113.5): 56 data bytes\n' +
      '36 bytes from 192.0.2.254: Destination Host Unreachable for icmp_seq=0\n\n' +
      '----203.0.113.5 PING Statistics----\n' +
      '1 packets transmitted, 0 packets received, 100.0% packet loss\n',
  );
  const quiet = await ping(['-Q', '-c', '1', '-w', '1', '-n', '203.0.113.5'], { unreachableFrom: '192.0.2.254' });
  t.notRegex(quiet.out, /Unreachable/, '-Q keeps quiet about ICMP errors');
});

test('an interrupt ends the run with the statistics', async (t) => {
  const ac = new AbortController();
  const sim = createSimHost();
  const peer = new Peer(sim, { rtt: () => 1 });
  const c = capture(peer.sys, { clock: simClock(sim), signal: ac.signal });
  let status: number | undefined;
  void main(['-n', '192.0.2.2'], c.io).then((s) => {
    status = s;
  });
  await sim.run(2500);
  ac.abort();
  await sim.runUntil(() => status !== undefined, 1000);
  t.is(status, 0);
  t.regex(c.out(), /3 packets transmitted, 3 packets received, 0\.0% packet loss\n/);
});

test('a small -s has no timestamp, so no times; -p fills the data with the pattern', async (t) => {
  const r = await ping(['-c', '1', '-s', '4', '-n', '192.0.2.2'], { rtt: () => 1 });
  t.regex(r.out, /^16 bytes from 192\.0\.2\.2: icmp_seq=0 ttl=255$/m);
  t.notRegex(r.out, /round-trip/);
  const p = await ping(['-c', '1', '-p', 'abcd', '-n', '192.0.2.2'], { rtt: () => 1 });
  t.true(p.out.startsWith('PATTERN: 0xabcd\n'));
  t.deepEqual([...p.peer.sent[0]!.subarray(16, 20)], [0xab, 0xcd, 0xab, 0xcd]);
});

test('usage: NetBSD\'s text verbatim, exit 1', async (t) => {
  const r = await ping([]);
  const want = netbsdTranscript('rump.ping');
  t.is(r.err, want.text);
  t.is(r.out, '');
  t.is(r.status, want.status!);
  for (const argv of [['-Z', '192.0.2.2'], ['192.0.2.2', '-c', '3'], ['-c'], ['a', 'b']]) {
    const u = await ping(argv);
    t.is(u.status, 1, argv.join(' '));
    t.true(u.err.endsWith(want.text), argv.join(' '));
  }
});

test('bad values and hosts: NetBSD\'s messages, exit 1, nothing sent', async (t) => {
  const cases: Array<[string[], string]> = [
    [['-c', '0', '192.0.2.2'], 'rump.ping: Bad/invalid number of packets: 0\n'],
    [['-c', '3x', '192.0.2.2'], 'rump.ping: Bad/invalid number of packets: 3x\n'],
    [['-i', '0', '192.0.2.2'], 'rump.ping: Bad/invalid interval: 0\n'],
    [['-w', 'soon', '192.0.2.2'], 'rump.ping: Bad/invalid maxwait time: soon\n'],
    [['-s', '70000', '192.0.2.2'], 'rump.ping: packet size is too large\n'],
    [['-T', '0', '192.0.2.2'], 'rump.ping: ttl out of range: 0\n'],
    [['-f', '192.0.2.2'], 'rump.ping: -f is not supported\n'],
    [['-g', 'nowhere', '192.0.2.2'], 'rump.ping: Cannot resolve "nowhere" (Unknown host)\n'],
    [['no.such.host'], 'rump.ping: Cannot resolve "no.such.host" (Unknown host)\n'],
  ];
  for (const [argv, err] of cases) {
    const r = await ping(argv);
    t.is(r.err, err, argv.join(' '));
    t.is(r.status, 1, argv.join(' '));
    t.is(r.peer.sent.length, 0);
  }
});

test('a kernel without IPv4: Cannot create socket, exit 1', async (t) => {
  const c = capture({ socket: async () => { throw new Errno(EAFNOSUPPORT, 'socket'); } } as unknown as SysLike);
  t.is(await main(['-c', '1', '192.0.2.2'], c.io), 1);
  t.is(c.err(), 'rump.ping: Cannot create socket: Address family not supported by protocol family\n');
});
