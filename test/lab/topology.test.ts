/*
 * What the lab computes for a topology: one hosts table shared by every
 * kernel (copy on write), routes for stub routers, Node's faces made only
 * when reached.
 *
 *   h0 ── acc0 ──┐
 *   h1 ── acc0   ├── core ── acc1 ── h2
 */
import test from 'ava';
import { createLab } from '../../lab/index.js';
import { kernelResolv } from '../../net/resolv.js';

interface Route { dst: string; prefixLen: number; gateway: string }

test('one hosts table for every kernel; a kernel that writes its own gets its own', async (t) => {
  const lab = createLab();
  const a = lab.host('a');
  const b = lab.host('b');
  lab.link(a, b);
  const ta = kernelResolv(a.kernel).hosts;
  t.is(ta, kernelResolv(b.kernel).hosts, 'the same array');
  t.deepEqual(ta.map((e) => `${e.address} ${e.names.join(' ')}`), ['10.0.1.1 a', '10.0.1.2 b']);
  await b.sys.sysctlSet('net.resolv.hosts', '192.0.2.9 elsewhere');
  t.deepEqual(kernelResolv(a.kernel).hosts, ta, 'a keeps the lab\'s table');
  t.deepEqual(kernelResolv(b.kernel).hosts.map((e) => e.names[0]), ['elsewhere']);
  // A new host: every kernel gets the new table, b's own is replaced by the lab's again.
  const c = lab.host('c');
  lab.link(c, a);
  t.deepEqual(kernelResolv(a.kernel).hosts.map((e) => e.names[0]), ['a', 'b', 'c']);
  t.is(kernelResolv(c.kernel).hosts, kernelResolv(a.kernel).hosts);
  await lab.halt();
});

test('a stub router takes a default route towards the core; the core keeps a route per network', async (t) => {
  const lab = createLab();
  const core = lab.router('core');
  const acc0 = lab.router('acc0');
  const acc1 = lab.router('acc1');
  lab.link(acc0, core); // 10.0.1.0/24
  lab.link(acc1, core); // 10.0.2.0/24
  const h0 = lab.host('h0');
  const h1 = lab.host('h1');
  const h2 = lab.host('h2');
  lab.link(h0, acc0); // 10.0.3.0/24
  lab.link(h1, acc0); // 10.0.4.0/24
  lab.link(h2, acc1); // 10.0.5.0/24
  const routes = async (h: typeof core): Promise<string[]> =>
    ((await h.sys.ext('rtdump')) as Route[]).filter((r) => r.gateway.includes('.') && !r.gateway.startsWith('link')).map((r) => `${r.dst}/${r.prefixLen} ${r.gateway}`).sort();
  t.deepEqual(await routes(acc0), ['0.0.0.0/0 10.0.1.2'], 'everything acc0 does not touch is behind the core');
  t.deepEqual(await routes(acc1), ['0.0.0.0/0 10.0.2.2']);
  t.deepEqual(await routes(core), ['10.0.3.0/24 10.0.1.1', '10.0.4.0/24 10.0.1.1', '10.0.5.0/24 10.0.2.1']);
  t.deepEqual(await routes(h0), ['0.0.0.0/0 10.0.3.2']);
  // Traffic across: h0 to h2 and back, through acc0, core, acc1.
  const srv = h2.dgram.createSocket('udp4');
  const got = new Promise<string>((resolve) => srv.on('message', (m: Buffer, r: { address: string }) => resolve(`${m} from ${r.address}`)));
  srv.bind(7);
  const cli = h0.dgram.createSocket('udp4');
  cli.send('hi', 7, 'h2');
  t.is(await lab.runUntil(got), 'hi from 10.0.3.1');
  srv.close();
  cli.close();
  await lab.halt();
});

test('two routers alone: no defaults both ways (they would loop what has no route)', async (t) => {
  const lab = createLab();
  const r1 = lab.router('r1');
  const r2 = lab.router('r2');
  const a = lab.host('a');
  const b = lab.host('b');
  lab.link(a, r1);
  lab.link(r1, r2);
  lab.link(r2, b);
  const dump = async (h: typeof r1): Promise<Route[]> => (await h.sys.ext('rtdump')) as Route[];
  t.falsy((await dump(r1)).find((r) => r.prefixLen === 0));
  t.falsy((await dump(r2)).find((r) => r.prefixLen === 0));
  t.truthy((await dump(r1)).find((r) => r.dst === '10.0.3.0' && r.gateway === '10.0.2.2'));
  await lab.halt();
});
