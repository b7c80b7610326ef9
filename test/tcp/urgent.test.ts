/*
 * Urgent data (RFC 9293 §3.8.5, RFC 6093). Sending: send(MSG_OOB) puts the
 * urgent pointer just past the last byte written (BSD's convention, RFC
 * 6093 §2) and the data goes at once, Nagle or not, with URG on every
 * segment before the pointer. Receiving: the urgent byte stays inline, in
 * order, as a BSD socket with SO_OOBINLINE has it (what RFC 6093 §6 asks of
 * applications), so recv(MSG_OOB) on TCP is EINVAL as it is there; on UDP,
 * which has no urgent data, MSG_OOB is EOPNOTSUPP. Where the urgent byte
 * is shows as BSD shows it: poll() says POLLPRI while it is ahead or next,
 * a read stops just before it, and ioctl(SIOCATMARK) is 1 when it is the
 * next byte (the byte before the urgent pointer, RFC 6093 §2).
 *
 *     kernel under test (client, ESTABLISHED)  hub0 10.0.0.1 ══ hub ══ 10.0.0.2:8080 scripted peer
 */
import test from 'ava';
import { AF_INET, MSG_OOB, MSG_WAITALL, SOCK_DGRAM } from '../../kern/sys.js';
import { POLLIN, POLLPRI, POLLRDBAND } from '../../kern/select.js';
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

test('SIOCATMARK and POLLPRI: the mark is pending until read, a read stops just before the urgent byte', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  const events = async (): Promise<number> => (await p.k.sys.poll([{ fd, events: POLLIN | POLLPRI | POLLRDBAND }], 0))[0]!.revents!;
  const atMark = (): Promise<unknown> => p.k.sys.ioctl(fd, 'SIOCATMARK');
  await p.send('P.', 1, 1, { data: bytes('ab') });
  t.is(await events(), POLLIN, 'no urgent data: no POLLPRI');
  t.is(await atMark(), 0);
  // "c!" with the pointer just past "!": "!" is the urgent byte.
  await p.send('PU.', 3, 1, { data: bytes('c!'), urp: 2 });
  t.is(await events(), POLLIN | POLLPRI | POLLRDBAND);
  t.is(await atMark(), 0, 'three bytes before the mark');
  t.is(text(await p.k.sys.read(fd, 100)), 'abc', 'the read stops at the mark');
  t.is(await atMark(), 1, 'the urgent byte is next');
  t.is(await events(), POLLIN | POLLPRI | POLLRDBAND);
  t.is(text(await p.k.sys.read(fd, 100)), '!');
  t.is(await atMark(), 0);
  t.is(await events(), 0, 'read past the mark: no POLLPRI');

  // A pointer ahead of the data (the urgent byte not yet here): POLLPRI at once, the mark where it will be.
  await p.send('PU.', 5, 1, { data: bytes('xy'), urp: 4 });
  t.is(await events(), POLLIN | POLLPRI | POLLRDBAND);
  t.is(text(await p.k.sys.read(fd, 100)), 'xy');
  t.is(await atMark(), 0, 'the urgent byte has not arrived');
  t.is(await events(), POLLPRI | POLLRDBAND);
  await p.send('P.', 7, 1, { data: bytes('z#tail') });
  t.is(text(await p.k.sys.read(fd, 100)), 'z', 'stops before the urgent byte');
  t.is(await atMark(), 1);
  t.is(text(await p.k.sys.read(fd, 100)), '#tail');
  t.is(await events(), 0);
  await p.finish(t);
});

test('a later urgent pointer moves the mark (one mark at a time, RFC 6093); an old or repeated one does not', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  const atMark = (): Promise<unknown> => p.k.sys.ioctl(fd, 'SIOCATMARK');
  await p.send('PU.', 1, 1, { data: bytes('a!b'), urp: 2 });
  await p.send('PU.', 4, 1, { data: bytes('c?'), urp: 2 });
  t.is(text(await p.k.sys.read(fd, 100)), 'a!bc', 'the mark is at "?" now');
  t.is(await atMark(), 1);
  // A retransmission of the first segment (its pointer behind the mark) changes nothing.
  await p.send('PU.', 1, 1, { data: bytes('a!b'), urp: 2 });
  t.is(await atMark(), 1);
  t.is(text(await p.k.sys.read(fd, 100)), '?');
  t.is(await atMark(), 0);
  await p.finish(t);
});

test('MSG_WAITALL stops at the urgent mark as well', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  await p.send('PU.', 1, 1, { data: bytes('abc!def'), urp: 4 });
  t.is(text((await p.k.sys.recvfrom(fd, 7, MSG_WAITALL)).data), 'abc');
  t.is(await p.k.sys.ioctl(fd, 'SIOCATMARK'), 1);
  t.is(text((await p.k.sys.recvfrom(fd, 4, MSG_WAITALL)).data), '!def');
  t.is(await p.k.sys.ioctl(fd, 'SIOCATMARK'), 0);
  await p.finish(t);
});
