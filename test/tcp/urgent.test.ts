/*
 * Urgent data (RFC 9293 §3.8.5, RFC 6093). Sending: send(MSG_OOB) puts the
 * urgent pointer just past the last byte written (BSD's convention, RFC
 * 6093 §2) and the data goes at once, Nagle or not, with URG on every
 * segment before the pointer. Receiving: the urgent byte stays inline, in
 * order, as a BSD socket with SO_OOBINLINE has it (what RFC 6093 §6 asks of
 * applications), so recv(MSG_OOB) on TCP is EINVAL as it is there; on UDP,
 * which has no urgent data, MSG_OOB is EOPNOTSUPP.
 *
 *     kernel under test (client, ESTABLISHED)  hub0 10.0.0.1 ══ hub ══ 10.0.0.2:8080 scripted peer
 */
import test from 'ava';
import { AF_INET, MSG_OOB, SOCK_DGRAM } from '../../kern/sys.js';
import { errnoOf } from './harness.js';
import { bytes, readN, text } from './pair.js';
import { inState } from './states.js';

const W = 'win 33580';

test('send(MSG_OOB): the urgent pointer past the last byte, sent at once past Nagle, URG until then', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  await p.k.sys.write(fd, bytes('x'));
  t.is(p.next(), `P. 1:2(1) ack 1 ${W}`);
  // Nagle holds a short write while "x" is unacknowledged...
  await p.k.sys.write(fd, bytes('yz'));
  t.deepEqual(p.drain(), []);
  // ...but not urgent data, which goes with the pointer one past its last byte.
  t.is(await p.k.sys.sendto(fd, bytes('!'), MSG_OOB, null), 1);
  t.is(p.next(), `P.U 2:5(3) ack 1 ${W} urg 3`);
  await p.send('.', 1, 5);
  await p.k.sys.write(fd, bytes('after'));
  t.is(p.next(), `P. 5:10(5) ack 1 ${W}`, 'no URG once the pointer is behind');
  await p.finish(t);
});

test('received urgent data stays inline and in order; recv(MSG_OOB) is EINVAL on TCP, EOPNOTSUPP on UDP', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  await p.send('P.', 1, 1, { data: bytes('ab') });
  p.inject('PU.', 3, 1, { data: bytes('c!') });
  await p.sim.settle();
  t.is(text(await readN(p.k, fd, 4)), 'abc!');
  t.is(await errnoOf(p.k.sys.recvfrom(fd, 1, MSG_OOB)), 'EINVAL');
  const u = await p.k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  t.is(await errnoOf(p.k.sys.sendto(u, bytes('x'), MSG_OOB, { family: AF_INET, addr: '10.0.0.2', port: 9 })), 'EOPNOTSUPP');
  t.is(await errnoOf(p.k.sys.recvfrom(u, 1, MSG_OOB)), 'EOPNOTSUPP');
  await p.k.sys.close(u);
  await p.finish(t);
});
