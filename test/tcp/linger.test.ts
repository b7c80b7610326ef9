/*
 * SO_LINGER with a non-zero interval (setsockopt(2), NetBSD soclose): a
 * blocking close waits until the connection is gone or the interval has
 * passed; the data queued before it is delivered either way. A
 * non-blocking socket does not wait. (SO_LINGER 0, the abortive close, is
 * in sockets.test.ts.)
 *
 *     kernel A  hub0 10.0.0.1/24 ═══ hub "lan" ═══ hub0 10.0.0.2/24  kernel B
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { F_SETFL, O_NONBLOCK } from '../../kern/sys.js';
import { SOL_SOCKET, SO_LINGER, SO_RCVBUF } from '../../net/socket.js';
import { pair, readN, until } from './pair.js';

const pattern = (n: number): Uint8Array => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >>> 9)) & 0xff;
  return b;
};
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('SO_LINGER 5 s: close waits for the peer to take the data and close, then returns; the connection ends in TIME_WAIT', async (t) => {
  const n = await pair(11);
  await n.b.sys.sysctlSet('net.inet.tcp.recvspace', 8192);
  const { cfd, sfd } = await n.connected();
  await n.a.sys.setsockopt(cfd, SOL_SOCKET, SO_LINGER, { l_onoff: 1, l_linger: 5 });
  const data = pattern(24 * 1024);
  await n.a.sys.write(cfd, data);
  const start = n.sim.now();
  let closedAt = -1;
  const closing = n.a.sys.close(cfd).then(() => {
    closedAt = n.sim.now();
  });
  await n.sim.run(1000);
  t.is(closedAt, -1, 'a second later the reader has not read: close is still waiting');
  const got = await until(n, readN(n.b, sfd, data.length + 1));
  t.is(sha(got), sha(data), 'every byte written before close arrives, then EOF');
  await n.b.sys.close(sfd);
  await n.sim.runUntil(() => closedAt >= 0, 10_000);
  await closing;
  t.true(closedAt >= 0 && closedAt - start < 5000, `close returned when the connection was gone (${closedAt - start} ms), before the interval`);
  const states = await n.a.sys.ext('pcblist');
  t.deepEqual(states.filter((p) => p.proto === 'tcp' && p.state !== 'LISTEN').map((p) => p.state), ['TIME_WAIT']);
  await n.closeAllAndCheck(t);
});

test('SO_LINGER 2 s against a reader that never reads: close returns after the interval, and the data still arrives later', async (t) => {
  const n = await pair(12);
  const { cfd, sfd } = await n.connected();
  await n.b.sys.setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, 4096);
  await n.a.sys.setsockopt(cfd, SOL_SOCKET, SO_LINGER, { l_onoff: 1, l_linger: 2 });
  const data = pattern(32 * 1024);
  await n.a.sys.write(cfd, data);
  const start = n.sim.now();
  let closedAt = -1;
  const closing = n.a.sys.close(cfd).then(() => {
    closedAt = n.sim.now();
  });
  await n.sim.runUntil(() => closedAt >= 0, 60_000);
  await closing;
  t.true(closedAt - start >= 2000 && closedAt - start < 2100, `close returned after the 2 s interval (${closedAt - start} ms)`);
  t.false(n.a.sys.openFds().includes(cfd), 'the descriptor is gone');
  // The connection closes on gracefully without its descriptor.
  const got = await until(n, readN(n.b, sfd, data.length + 1));
  t.is(sha(got), sha(data), 'nothing was thrown away: all the data, then EOF');
  await n.closeAllAndCheck(t);
});

test('SO_LINGER on a non-blocking socket: close does not wait; the queued data is still delivered', async (t) => {
  const n = await pair(13);
  const { cfd, sfd } = await n.connected();
  await n.b.sys.setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, 4096);
  await n.a.sys.setsockopt(cfd, SOL_SOCKET, SO_LINGER, { l_onoff: 1, l_linger: 30 });
  await n.a.sys.fcntl(cfd, F_SETFL, O_NONBLOCK);
  const data = pattern(16 * 1024);
  t.is(await n.a.sys.write(cfd, data), data.length);
  const start = n.sim.now();
  await n.a.sys.close(cfd);
  t.is(n.sim.now(), start, 'close returned at once, no virtual time passed');
  const got = await until(n, readN(n.b, sfd, data.length + 1));
  t.is(sha(got), sha(data));
  await n.closeAllAndCheck(t);
});
