/*
 * autoSelectFamily (RFC 8305 as Node 20 does it) in kernel.net. The same
 * scenarios run on node:net over the host's loopback and on a kernel with
 * net_netinet6 over lo0 and must give the same events: a lookup answering
 * ::1 and 127.0.0.1 for a server on 127.0.0.1 only tries ::1 (refused) and
 * then 127.0.0.1; every attempt refused is an AggregateError; with
 * autoSelectFamily off only the first answer is tried. On the simulated
 * clock, an attempt that gets no answer (net.inet.tcp.blackhole=2) is
 * abandoned after autoSelectFamilyAttemptTimeout for the next.
 */
import test from 'ava';
import hostNet from 'node:net';
import { createSimHost, rumpInit } from '../../index.js';
import { drive, once } from './helpers.js';

const NET6 = ['net', 'net_net', 'net_netinet', 'net_netinet6'];

/* eslint-disable @typescript-eslint/no-explicit-any */
type AnyNet = any;

interface Addr {
  address: string;
  family: number;
}

/** A lookup that answers `answers` (all of them when asked, else the first), and notes how it was asked. */
function fakeLookup(answers: Addr[], asked: string[]) {
  return (host: string, opts: { all?: boolean; family?: number }, cb: (...a: unknown[]) => void): void => {
    asked.push(`lookup ${host} all=${opts.all === true} family=${opts.family ?? 0}`);
    if (opts.all) process.nextTick(cb, null, answers);
    else process.nextTick(cb, null, answers[0]!.address, answers[0]!.family);
  };
}

/** Connect with `opts` and trace the attempt events until connect or error. */
async function attempt(n: AnyNet, opts: Record<string, unknown>, port: number): Promise<string[]> {
  const lines: string[] = [];
  const p = (x: number): string => (x === port ? 'PORT' : String(x));
  const c = n.connect(opts);
  c.on('connectionAttempt', (a: string, pt: number, f: number) => lines.push(`attempt ${a}:${p(pt)} family ${f}`));
  c.on('connectionAttemptFailed', (a: string, pt: number, f: number, e: { code?: string }) => lines.push(`failed ${a}:${p(pt)} family ${f} ${e.code}`));
  c.on('connectionAttemptTimeout', (a: string, pt: number, f: number) => lines.push(`timeout ${a}:${p(pt)} family ${f}`));
  const err = await new Promise<(Error & { code?: string; errors?: Array<{ code?: string }> }) | null>((resolve) => {
    c.once('connect', () => resolve(null));
    c.once('error', resolve);
  });
  if (err === null) lines.push(`connect ${c.remoteAddress} ${c.remoteFamily}`);
  else lines.push(`error ${err.name} ${err.code} [${(err.errors ?? []).map((e) => e.code).join(',')}]`);
  lines.push(`tried ${(c.autoSelectFamilyAttemptedAddresses ?? []).map((s: string) => s.replace(`:${port}`, ':PORT')).join(' ')}`);
  // Node sets the list only on a socket that tried several addresses.
  lines.push(`has autoSelectFamilyAttemptedAddresses ${'autoSelectFamilyAttemptedAddresses' in c}`);
  c.destroy();
  await once(c, 'close');
  return lines;
}

async function scenario(n: AnyNet): Promise<string[]> {
  const lines: string[] = [];
  lines.push(`default ${n.getDefaultAutoSelectFamily()} ${n.getDefaultAutoSelectFamilyAttemptTimeout()}`);
  const server = n.createServer((s: AnyNet) => s.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = server.address().port;
  const both = [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }];
  const asked: string[] = [];
  lines.push('-- ::1 refused, then 127.0.0.1');
  lines.push(...await attempt(n, { host: 'dual.test', port, lookup: fakeLookup(both, asked) }, port));
  lines.push('-- duplicates once, families alternating from the first answer\'s');
  const many = [{ address: '127.0.0.1', family: 4 }, { address: '127.0.0.2', family: 4 }, { address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }];
  lines.push(...await attempt(n, { host: 'many.test', port: port + 0, lookup: fakeLookup(many, asked) }, port));
  lines.push('-- autoSelectFamily: false takes the first answer');
  lines.push(...await attempt(n, { host: 'dual.test', port, autoSelectFamily: false, lookup: fakeLookup(both, asked) }, port));
  lines.push('-- family: 4 asks for one address');
  lines.push(...await attempt(n, { host: 'dual.test', port, family: 4, lookup: fakeLookup([both[1]!], asked) }, port));
  server.close();
  await once(server, 'close');
  lines.push('-- everything refused');
  lines.push(...await attempt(n, { host: 'dual.test', port, lookup: fakeLookup(both, asked) }, port));
  lines.push(...asked);
  return lines;
}

test('autoSelectFamily: kernel.net with net_netinet6 gives the events node:net gives on the host', async (t) => {
  const host = await scenario(hostNet);
  t.log(host.join('\n'));
  const k = await rumpInit({ components: NET6 });
  try {
    t.deepEqual(await scenario(k.net), host);
  } finally {
    await k.halt();
  }
});

test('an attempt with no answer is abandoned after autoSelectFamilyAttemptTimeout on the kernel clock; the next address connects', async (t) => {
  const sim = createSimHost({ seed: 31 });
  const k = await rumpInit({ components: NET6, host: sim });
  // No RST for closed ports: a connect to ::1 port 80 waits (until keepinit).
  await k.sys.sysctlSet('net.inet.tcp.blackhole', 2);
  const server = k.net.createServer((s) => s.end());
  await drive(sim, new Promise<void>((r) => server.listen(80, '127.0.0.1', () => r())));
  const asked: string[] = [];
  const t0 = sim.now();
  const both = [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }];
  const lines = await drive(sim, attempt(k.net, { host: 'dual.test', port: 80, autoSelectFamilyAttemptTimeout: 300, lookup: fakeLookup(both, asked) }, 80));
  const elapsed = sim.now() - t0;
  t.deepEqual(lines, [
    'attempt ::1:PORT family 6',
    'timeout ::1:PORT family 6',
    'attempt 127.0.0.1:PORT family 4',
    'connect 127.0.0.1 IPv4',
    'tried ::1:PORT 127.0.0.1:PORT',
    'has autoSelectFamilyAttemptedAddresses true',
  ]);
  t.true(elapsed >= 300 && elapsed < 400, `switched after the attempt timeout (${elapsed} ms)`);
  t.deepEqual(asked, ['lookup dual.test all=true family=0']);
  // A lookup that ignores `all` (answers one address) still connects.
  const single = (_h: string, _o: unknown, cb: (...a: unknown[]) => void): void => process.nextTick(cb, null, '127.0.0.1', 4);
  t.deepEqual(await drive(sim, attempt(k.net, { host: 'one.test', port: 80, lookup: single }, 80)), [
    'attempt 127.0.0.1:PORT family 4', 'connect 127.0.0.1 IPv4', 'tried ', 'has autoSelectFamilyAttemptedAddresses false',
  ]);
  // The timeout has a floor of 10 ms, as Node's; bad values are Node's errors.
  t.throws(() => k.net.setDefaultAutoSelectFamilyAttemptTimeout(0), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => k.net.setDefaultAutoSelectFamily('yes' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  server.close();
  await drive(sim, once(server, 'close'));
  await k.halt();
});
