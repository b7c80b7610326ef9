/*
 * The library through rump_server: the same `sys` and `netconfig` as an
 * in-process kernel, from a client.
 *
 *   local kernel 192.0.2.1 ── shmif0 ══ bus ══ shmif0 ── served kernel 192.0.2.2 (configured by the client)
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rumpInit, rumpClient, startRumpServer, AF_INET, SOCK_DGRAM, Errno } from '../../index.js';

test('a client configures a served kernel with netconfig and exchanges UDP with a local one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-client-'));
  const bus = join(dir, 'bus');
  const served = await rumpInit();
  const server = await startRumpServer(served, `unix://${join(dir, 'sock')}`);
  const local = await rumpInit();
  const remote = await rumpClient(`unix://${join(dir, 'sock')}`);
  try {
    t.is(await remote.netconfig.ifcreate('shmif0'), 'shmif0');
    await remote.netconfig.ifsetlinkstr('shmif0', bus);
    await remote.netconfig.ipv4Ifaddr('shmif0', '192.0.2.2', '255.255.255.0');
    await remote.netconfig.ipv4Gw('192.0.2.254');
    await local.netconfig.ifcreate('shmif0');
    await local.netconfig.ifsetlinkstr('shmif0', bus);
    await local.netconfig.ipv4IfaddrCidr('shmif0', '192.0.2.1', 24);

    const routes = await remote.sys.ext('rtdump');
    t.true(routes.some((r) => r.dst === '0.0.0.0' && r.gateway === '192.0.2.254'));

    const rfd = await remote.sys.socket(AF_INET, SOCK_DGRAM, 0);
    await remote.sys.bind(rfd, { family: AF_INET, addr: '0.0.0.0', port: 4000 });
    const lfd = await local.sys.socket(AF_INET, SOCK_DGRAM, 0);
    await local.sys.sendto(lfd, new Uint8Array([0xde, 0xad]), 0, { family: AF_INET, addr: '192.0.2.2', port: 4000 });
    const got = await remote.sys.recvfrom(rfd, 100);
    t.deepEqual([...got.data], [0xde, 0xad]);
    t.is(got.from?.addr, '192.0.2.1');

    // Failures arrive as NetBSD errno values.
    const again = await remote.sys.socket(AF_INET, SOCK_DGRAM, 0);
    const err = await t.throwsAsync(remote.sys.bind(again, { family: AF_INET, addr: '0.0.0.0', port: 4000 }));
    t.true(err instanceof Errno);
    t.is((err as Errno).errno, 48);
    t.is((err as Errno).code, 'EADDRINUSE');
    t.is((err as Errno).syscall, 'bind');
  } finally {
    await remote.close();
    await server.close();
    await served.halt();
    await local.halt();
    rmSync(dir, { recursive: true, force: true });
  }
});
