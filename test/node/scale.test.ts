/*
 * Servers at scale through kernel.net, at a count a test can afford (the
 * 100,000-connection figure is bench/scale.ts's): an in-process server
 * holds more connections than the old 1,024-descriptor table allowed (it
 * stopped at 511 pairs with EMFILE), every one of them live; and when the
 * process's RLIMIT_NOFILE does run out, the server reports EMFILE as Node's
 * does and takes connections again once descriptors are free.
 */
import test from 'ava';
import { rumpInit, createSimHost, RLIMIT_NOFILE, type RumpKernel, type SimHost } from '../../index.js';
import { drive } from './helpers.js';

type Sock = ReturnType<RumpKernel['net']['connect']>;

async function boot(): Promise<{ sim: SimHost; k: RumpKernel }> {
  const sim = createSimHost({ seed: 9 });
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet'], host: sim });
  return { sim, k };
}

/** Open `n` connections to `port`, 64 at a time; resolves when each is established at the client. */
function openMany(k: RumpKernel, port: number, n: number, out: Sock[]): Promise<void> {
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < n) {
      next++;
      await new Promise<void>((resolve, reject) => {
        const c = k.net.connect({ port, host: '127.0.0.1' });
        c.once('connect', () => resolve());
        c.once('error', reject);
        out.push(c);
      });
    }
  };
  return Promise.all(Array.from({ length: 64 }, one)).then(() => undefined);
}

test('one kernel.net server holds 1,500 idle connections from kernel.net clients on the same kernel, all live', async (t) => {
  const { sim, k } = await boot();
  const accepted: Sock[] = [];
  const server = k.net.createServer((s) => {
    accepted.push(s);
    s.on('data', (d) => s.write(d));
  });
  await drive(sim, new Promise<void>((r) => server.listen(7000, '127.0.0.1', r)));
  const clients: Sock[] = [];
  await drive(sim, openMany(k, 7000, 1500, clients));
  await drive(sim, new Promise<void>((r) => {
    const check = (): void => (accepted.length >= 1500 ? r() : void setImmediate(check));
    check();
  }));
  t.is(accepted.length, 1500);
  // 3,000 connection sockets and the listener, past the 1,021 the old table held.
  t.is(k.nfiles, 3001);
  const count = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
  t.is(count, 1500);
  // The first, a middle and the last connection still carry data.
  for (const c of [clients[0]!, clients[750]!, clients[1499]!]) {
    const got = new Promise<string>((r) => c.once('data', (d: Buffer) => r(d.toString())));
    c.write('ping');
    t.is(await drive(sim, got), 'ping');
  }
  for (const s of [...clients, ...accepted]) s.destroy();
  await drive(sim, new Promise<void>((r) => server.close(() => r())));
  await k.halt();
});

test('at RLIMIT_NOFILE the server reports EMFILE, as Node does, and accepts again once descriptors are free', async (t) => {
  const { sim, k } = await boot();
  // Descriptors 3..14: the listener, five pairs, and one more client.
  await k.sys.setrlimit(RLIMIT_NOFILE, { cur: 15, max: 15 });
  const accepted: Sock[] = [];
  const errors: string[] = [];
  const server = k.net.createServer((s) => accepted.push(s));
  server.on('error', (e: NodeJS.ErrnoException) => errors.push(`${e.code} ${e.syscall}`));
  await drive(sim, new Promise<void>((r) => server.listen(7001, '127.0.0.1', r)));
  const clients: Sock[] = [];
  await drive(sim, openMany(k, 7001, 5, clients));
  await drive(sim, new Promise<void>((r) => {
    const check = (): void => (accepted.length >= 5 ? r() : void setImmediate(check));
    check();
  }));
  // A sixth client: its connect completes in the kernel (the listen queue holds it),
  // but the server's accept has no descriptor to put it in.
  const sixth = k.net.connect({ port: 7001, host: '127.0.0.1' });
  sixth.on('error', () => {});
  await drive(sim, new Promise<void>((r) => {
    const check = (): void => (errors.length > 0 ? r() : void setImmediate(check));
    check();
  }));
  t.is(errors[0], 'EMFILE accept');
  t.is(accepted.length, 5);
  // Free a pair: the server takes the waiting connection.
  clients[0]!.destroy();
  accepted[0]!.destroy();
  await drive(sim, new Promise<void>((r) => {
    const check = (): void => (accepted.length >= 6 ? r() : void setImmediate(check));
    check();
  }));
  t.is(accepted.length, 6);
  for (const s of [...clients, ...accepted, sixth]) s.destroy();
  await drive(sim, new Promise<void>((r) => server.close(() => r())));
  await k.halt();
});
