/*
 * TCP Fast Open cookies (RFC 7413 §4.1.2) are keyed per kernel: the same
 * client address gets the same cookie from one kernel every time, another
 * address gets another, and a second kernel (its own key from the
 * hypercall random source) gives a different one, so a cookie is worth
 * nothing anywhere else. The end-to-end behaviour is in the packetdrill
 * scripts of test/fixtures/packetdrill-tcpfeat/fastopen/.
 */
import test from 'ava';

import { InAddr } from '../../net/inet/in_addr.js';
import { inet } from '../../net/inet/inet.js';
import { TFO_COOKIE_LEN, tcpFastOpen } from '../../net/inet/tcp/fastopen.js';
import { bootKernels, ip } from '../helpers/kernels.js';

function cookieOf(k: Parameters<typeof inet>[0], addr: string): string {
  const a = new InAddr().setV4(ip(addr));
  const c = tcpFastOpen(inet(k).tcp!).cookie(a, new Uint8Array(TFO_COOKIE_LEN));
  return Buffer.from(c).toString('hex');
}

test('a kernel gives one client the same 8-byte cookie, another client another, another kernel another', async (t) => {
  const { sim, kernels } = bootKernels(2, 7);
  const [a, b] = kernels as [typeof kernels[0], typeof kernels[0]];
  const c1 = cookieOf(a, '192.0.2.1');
  t.is(c1.length, 2 * TFO_COOKIE_LEN);
  t.is(cookieOf(a, '192.0.2.1'), c1);
  t.not(cookieOf(a, '192.0.2.2'), c1);
  t.not(cookieOf(b, '192.0.2.1'), c1);
  for (const k of kernels) await k.halt();
  await sim.settle();
});
