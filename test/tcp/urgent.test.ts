/*
 * Urgent data (RFC 9293 §3.8.5, RFC 6093) as this kernel has it: the urgent
 * pointer is not kept, so a segment with URG delivers all its bytes in
 * order, the urgent one among them, which is what a BSD socket with
 * SO_OOBINLINE gives (RFC 6093 §6 asks applications for exactly that).
 * Out-of-band calls, which would need the byte kept apart, fail plainly
 * rather than do something else: send and receive with MSG_OOB are
 * EOPNOTSUPP.
 *
 *     kernel under test (client, ESTABLISHED)  hub0 10.0.0.1 ══ hub ══ 10.0.0.2:8080 scripted peer
 */
import test from 'ava';
import { MSG_OOB } from '../../kern/sys.js';
import { errnoOf } from './harness.js';
import { bytes, readN, text } from './pair.js';
import { inState } from './states.js';

test('an URG segment\'s bytes arrive inline and in order; MSG_OOB send and receive are EOPNOTSUPP', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  // "ab", then "c!" with URG.
  await p.send('P.', 1, 1, { data: bytes('ab') });
  p.inject('PU.', 3, 1, { data: bytes('c!') });
  await p.sim.settle();
  t.is(text(await readN(p.k, fd, 4)), 'abc!');
  t.is(await errnoOf(p.k.sys.sendto(fd, bytes('x'), MSG_OOB, null)), 'EOPNOTSUPP');
  t.is(await errnoOf(p.k.sys.recvfrom(fd, 1, MSG_OOB)), 'EOPNOTSUPP');
  p.drain();
  await p.k.sys.write(fd, bytes('after'));
  t.regex(p.next() ?? '', /^P\. 1:6\(5\) ack 5 /, 'the connection goes on');
  await p.finish(t);
});
