/*
 * Put a connection of the kernel under test in any RFC 9293 state, against
 * the scripted peer of harness.ts (smoltcp's per-state builders). Every
 * builder leaves the peer's output queue empty and returns the fd (and, for
 * passive opens, the listener).
 *
 * Sequence numbers after each (relative, as the harness writes them): the
 * kernel's snd_nxt is 1 (2 once its FIN went), the peer's is 1 (2 once its
 * FIN went).
 */
import { AF_INET, SHUT_WR } from '../../kern/sys.js';
import { Peer, errnoOf, type OptSpec, type PeerOptions } from './harness.js';

export type StateName =
  | 'CLOSED' | 'LISTEN' | 'SYN_SENT' | 'SYN_RCVD' | 'ESTABLISHED' | 'CLOSE_WAIT' | 'FIN_WAIT_1' | 'CLOSING' | 'LAST_ACK'
  | 'FIN_WAIT_2' | 'TIME_WAIT';

/** The SYN-ACK and SYN options the peer uses: MSS only, so no option clutters the expectations. */
export const PLAIN: OptSpec[] = [['mss', 1460]];

export async function inState(state: StateName, opts: PeerOptions = {}): Promise<{ p: Peer; fd: number }> {
  const p = await Peer.create(opts);
  const fd = await build(p, state);
  p.drain();
  return { p, fd };
}

async function build(p: Peer, state: StateName): Promise<number> {
  switch (state) {
    case 'CLOSED':
      return p.socket();
    case 'LISTEN': {
      const fd = await p.socket();
      await p.k.sys.bind(fd, { family: AF_INET, addr: '0.0.0.0', port: p.kport });
      await p.k.sys.listen(fd, 4);
      return fd;
    }
    case 'SYN_SENT': {
      const fd = await p.socket();
      await errnoOf(p.k.sys.connect(fd, p.peerAddr()));
      await p.sim.settle();
      return fd;
    }
    case 'SYN_RCVD': {
      // Simultaneous open: the only way a socket of ours is in SYN_RCVD (a
      // listener's half-open connections live in the SYN cache).
      const fd = await build(p, 'SYN_SENT');
      await p.send('S', 0, 0, { opts: PLAIN });
      return fd;
    }
    case 'ESTABLISHED':
      return (await p.activeOpen(PLAIN, 65535)).fd;
    case 'CLOSE_WAIT': {
      const fd = await build(p, 'ESTABLISHED');
      await p.send('F.', 1, 1);
      return fd;
    }
    case 'LAST_ACK': {
      const fd = await build(p, 'CLOSE_WAIT');
      await p.k.sys.shutdown(fd, SHUT_WR);
      return fd;
    }
    case 'FIN_WAIT_1': {
      const fd = await build(p, 'ESTABLISHED');
      await p.k.sys.shutdown(fd, SHUT_WR);
      return fd;
    }
    case 'FIN_WAIT_2': {
      const fd = await build(p, 'FIN_WAIT_1');
      await p.send('.', 1, 2);
      return fd;
    }
    case 'CLOSING': {
      const fd = await build(p, 'FIN_WAIT_1');
      await p.send('F.', 1, 1);
      return fd;
    }
    case 'TIME_WAIT': {
      const fd = await build(p, 'FIN_WAIT_2');
      await p.send('F.', 1, 2);
      return fd;
    }
  }
}

/** The state of the connection under test: TCP_INFO, or pcblist for TIME_WAIT and closed descriptors. */
export async function stateOf(p: Peer, fd: number): Promise<string> {
  return p.state(fd);
}
