/*
 * rump.sockstat against a served kernel: the kernel's own process (pid 0,
 * "system") with a TCP listener, the connection it accepted and a UDP
 * socket; a rump_server client (a process of the kernel's own, pid 1, named
 * at HELLO) with the other end of the connection. NetBSD's columns and
 * address forms, -l / -c / -p filters, and a usage line for bad arguments.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rumpInit, rumpClient, startRumpServer, AF_INET, SOCK_DGRAM, SOCK_STREAM } from '../../index.js';
import { main } from '../../bin/rump.sockstat.js';
import { run } from '../bin/helpers.js';

test('rump.sockstat lists every process\'s sockets in NetBSD\'s format; -l, -c and -p filter; bad options get the usage line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-sockstat-'));
  const url = `unix://${join(dir, 'sock')}`;
  const served = await rumpInit();
  const server = await startRumpServer(served, url);
  const client = await rumpClient(url);
  try {
    const lfd = await served.sys.socket(AF_INET, SOCK_STREAM, 0);
    await served.sys.bind(lfd, { family: AF_INET, addr: '0.0.0.0', port: 7 });
    await served.sys.listen(lfd, 5);
    const ufd = await served.sys.socket(AF_INET, SOCK_DGRAM, 0);
    await served.sys.bind(ufd, { family: AF_INET, addr: '127.0.0.1', port: 5353 });
    const cfd = await client.sys.socket(AF_INET, SOCK_STREAM, 0);
    await client.sys.bind(cfd, { family: AF_INET, addr: '127.0.0.1', port: 50001 });
    await client.sys.connect(cfd, { family: AF_INET, addr: '127.0.0.1', port: 7 });
    const { fd: afd } = await served.sys.accept(lfd);

    const all = await run(main, [], client.sys);
    t.is(all.status, 0, all.err);
    const lines = all.out.split('\n').filter(Boolean);
    t.is(lines[0], 'USER     COMMAND    PID   FD PROTO  LOCAL ADDRESS         FOREIGN ADDRESS');
    t.true(lines.includes(`root     system     0      ${lfd} tcp    *.7                   *.*`), all.out);
    t.true(lines.includes(`root     system     0      ${ufd} udp    127.0.0.1.5353        *.*`), all.out);
    t.true(lines.includes(`root     system     0      ${afd} tcp    127.0.0.1.7           127.0.0.1.50001`), all.out);
    const mine = lines.filter((l) => / 1 +3 tcp +127\.0\.0\.1\.50001 +127\.0\.0\.1\.7$/.test(l));
    t.is(mine.length, 1, `the client's connection, under its own pid: ${all.out}`);
    t.regex(mine[0]!, /^root {5}\S+ +1 /, 'under the name the client gave at HELLO');
    t.is(lines.length, 5, 'nothing else: the header and four sockets');

    const listening = await run(main, ['-l'], client.sys);
    t.deepEqual(listening.out.split('\n').filter(Boolean).slice(1).map((l) => l.split(/ +/)[5]), ['*.7', '127.0.0.1.5353'], '-l: the listener and the bound UDP socket');
    const connected = await run(main, ['-c'], client.sys);
    t.is(connected.out.split('\n').filter(Boolean).length, 3, '-c: both ends of the connection');
    const port = await run(main, ['-p', '5000-6000'], client.sys);
    t.is(port.out.split('\n').filter(Boolean).length, 2, '-p 5000-6000: the UDP socket only');
    t.is((await run(main, ['-6'], client.sys)).out.split('\n').filter(Boolean).length, 1, '-6: no IPv6 sockets here');

    for (const argv of [['-x'], ['-p', 'http'], ['-f', 'ipx'], ['extra']]) {
      const bad = await run(main, argv, client.sys);
      t.is(bad.status, 1, argv.join(' '));
      t.regex(bad.err, /usage: rump\.sockstat|unknown address family/, argv.join(' '));
    }

    await client.sys.close(cfd);
    const after = await run(main, [], client.sys);
    t.false(after.out.split('\n').some((l) => / 1 +3 tcp /.test(l)), `a closed descriptor is gone from the list: ${after.out}`);
  } finally {
    await client.close();
    await server.close();
    await served.halt();
    rmSync(dir, { recursive: true, force: true });
  }
});
