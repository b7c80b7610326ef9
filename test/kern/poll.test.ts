/*
 * poll(2) asleep on several descriptors: each wake-up that finds nothing
 * ready must leave exactly one registration per file (and one on the halt
 * wake-up) behind, whatever woke it and however often a descriptor is
 * listed. A poll(-1) in a long-lived rump_server is woken by every ACK on a
 * busy socket; registrations left on the other files (and doubled on a
 * file listed twice) grew without bound: the sysproxy-calls fuzz run died
 * with an array of ten million copies of one waiter.
 */
import test from 'ava';
import { rumpInit, createSimHost, AF_INET, SOCK_DGRAM, SOCK_STREAM, POLLIN, type PollFd } from '../../index.js';
import { drive } from '../node/helpers.js';

const sin = (addr: string, port: number) => ({ family: AF_INET, addr, port });

/** A connection over lo0 (client cfd, server sfd), an idle UDP socket, and `fds(cfd, idle)` polled with no timeout. */
async function asleep(seed: number, fds: (cfd: number, idle: number) => PollFd[]) {
  const sim = createSimHost({ seed });
  const k = await rumpInit({ host: sim });
  const lfd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
  await k.sys.bind(lfd, sin('127.0.0.1', 80));
  await k.sys.listen(lfd, 5);
  const cfd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
  await drive(sim, k.sys.connect(cfd, sin('127.0.0.1', 80)));
  const { fd: sfd } = await drive(sim, k.sys.accept(lfd));
  const idle = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  const polled = k.sys.poll(fds(cfd, idle), -1);
  await sim.run(1);
  const client = k.sys.file(cfd).sel;
  const other = k.sys.file(idle).sel;
  /** `n` writes, each acknowledged by the peer (which never answers): every ACK wakes the poll, nothing is readable. */
  const wake = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      await k.sys.write(cfd, new Uint8Array([i]));
      await sim.run(500);
    }
  };
  /** The peer answers: the poll returns. */
  const answer = async (): Promise<PollFd[]> => {
    await k.sys.write(sfd, new Uint8Array([1]));
    return drive(sim, polled);
  };
  return { k, client, other, wake, answer };
}

test('a poll woken many times by one file keeps one registration on the others and one on halt', async (t) => {
  const { k, client, other, wake, answer } = await asleep(7, (cfd, idle) => [{ fd: cfd, events: POLLIN }, { fd: idle, events: POLLIN }]);
  t.deepEqual([client.sleeping, other.sleeping, k.haltSel.sleeping], [1, 1, 1]);
  await wake(20);
  t.is(client.sleeping, 1);
  t.is(other.sleeping, 1, 'one registration on the file that never woke it');
  t.is(k.haltSel.sleeping, 1, 'one registration on the halt wake-up');
  t.deepEqual((await answer()).map((p) => p.revents), [POLLIN, 0]);
  t.deepEqual([client.sleeping, other.sleeping, k.haltSel.sleeping], [0, 0, 0], 'nothing left once it returned');
  await k.halt();
});

test('a descriptor listed twice is registered once and stays so across wake-ups', async (t) => {
  const { k, client, wake, answer } = await asleep(8, (cfd) => [{ fd: cfd, events: POLLIN }, { fd: cfd, events: POLLIN }]);
  t.is(client.sleeping, 1);
  // Before the fix each wake-up doubled the registrations (2^8 here).
  await wake(8);
  t.is(client.sleeping, 1);
  t.is(k.haltSel.sleeping, 1);
  t.deepEqual((await answer()).map((p) => p.revents), [POLLIN, POLLIN]);
  t.is(client.sleeping + k.haltSel.sleeping, 0);
  await k.halt();
});
