/*
 * rump.ifconfig: NetBSD's listing, commands in order with the address last,
 * and NetBSD's error messages and exit codes.
 *
 * Most tests answer the ioctls with canned data (the state of the kernels
 * netbsd-tools.txt was recorded against) and record what the tool asked.
 * The last ones drive a real kernel's interface ioctls (net, net_net,
 * net_shmif on the sim host).
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import '../../shmif/component.js';
import { createSimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import { Errno, EBUSY, EINVAL, ENXIO } from '../../kern/errno.js';
import { netstack } from '../../net/netstack.js';
import { ifioctl } from '../../net/interface_ioctl.js';
import { IFF_UP } from '../../net/interface.js';
import type { IfInfo } from '../../net/ioctl.js';
import { main, formatStatus } from '../../bin/rump.ifconfig.js';
import type { SysLike } from '../../bin/common.js';
import { fakeSys, netbsd8Ifconfig, netbsdInterfaces, netbsdTranscript, run, type IoctlCall } from './helpers.js';

/** A kernel with the transcript's interfaces; ioctls are recorded, `fail` makes one fail. */
function cannedKernel(fail: Record<string, number> = {}) {
  const calls: IoctlCall[] = [];
  const ifs = netbsdInterfaces();
  const sockets: number[] = [];
  const sys = fakeSys({
    socket: () => {
      sockets.push(3);
      return 3;
    },
    close: () => {
      sockets.pop();
    },
    ioctl: ((_fd: number, cmd: string, arg: { name?: string } | undefined) => {
      calls.push({ cmd, arg });
      if (fail[cmd]) throw new Errno(fail[cmd]!, 'ioctl');
      const find = (name: string | undefined): IfInfo => {
        const i = ifs.find((x) => x.name === name);
        if (!i) throw new Errno(ENXIO, 'ioctl');
        return i;
      };
      switch (cmd) {
        case 'SIOCGIFCONF':
          return arg?.name === undefined ? ifs : [find(arg.name)];
        case 'SIOCGIFFLAGS':
          return { flags: find(arg!.name).flags };
        case 'SIOCIFGCLONERS':
          return ['shmif', 'virt'];
        default:
          if (arg?.name !== undefined && cmd !== 'SIOCIFCREATE') find(arg.name);
          return undefined;
      }
    }) as never,
  });
  return { sys, calls, sockets };
}

test('ifconfig -a prints every interface exactly as NetBSD does', async (t) => {
  const { sys, sockets } = cannedKernel();
  const r = await run(main, ['-a'], sys);
  const want = netbsdTranscript('rump.ifconfig -a');
  t.is(r.out, netbsd8Ifconfig(want.text));
  t.is(r.err, '');
  t.is(r.status, want.status!);
  t.deepEqual(sockets, [], 'the ioctl socket is closed');
});

test('ifconfig with no arguments lists every interface, as NetBSD\'s does', async (t) => {
  const { sys } = cannedKernel();
  const r = await run(main, [], sys);
  t.is(r.out, netbsd8Ifconfig(netbsdTranscript('rump.ifconfig -a').text));
  t.is(r.status, 0);
});

test('ifconfig shmif0 prints one interface', async (t) => {
  const { sys } = cannedKernel();
  const r = await run(main, ['shmif0'], sys);
  t.is(r.out, netbsd8Ifconfig(netbsdTranscript('rump.ifconfig shmif0').text));
  t.is(r.status, 0);
});

test('a second linkstr is "SIOCSLINKSTR: Device busy", exit 1', async (t) => {
  const { sys } = cannedKernel({ SIOCSLINKSTR: EBUSY });
  const r = await run(main, ['shmif0', 'linkstr', 'other'], sys);
  const want = netbsdTranscript('rump.ifconfig shmif0 linkstr other');
  t.is(r.err, want.text);
  t.is(r.out, '');
  t.is(r.status, want.status!);
});

test('creating an interface of an unknown cloner prints clone_command and exec_matches, exit 1', async (t) => {
  const { sys } = cannedKernel({ SIOCIFCREATE: EINVAL });
  const r = await run(main, ['bogus0', 'create'], sys);
  const want = netbsdTranscript('rump.ifconfig bogus0 create');
  t.is(r.err, want.text);
  t.is(r.status, want.status!);
});

test('an unknown interface is "SIOCGIFFLAGS nosuch0: Device not configured", exit 1', async (t) => {
  const { sys } = cannedKernel();
  const r = await run(main, ['nosuch0'], sys);
  t.is(r.err, 'rump.ifconfig: SIOCGIFFLAGS nosuch0: Device not configured\n');
  t.is(r.status, 1);
  const up = await run(main, ['nosuch0', 'up'], sys);
  t.is(up.err, 'rump.ifconfig: exec_matches: Device not configured\n');
  t.is(up.status, 1);
});

test('inet ADDR/PREFIX up: flags first, then the address (SIOCAIFADDR replaces the first)', async (t) => {
  const { sys, calls } = cannedKernel();
  const r = await run(main, ['shmif0', 'inet', '192.0.2.7/24', 'up'], sys);
  t.is(r.status, 0);
  t.is(r.out + r.err, '');
  t.deepEqual(calls.map((c) => c.cmd), ['SIOCGIFFLAGS', 'SIOCSIFFLAGS', 'SIOCGIFFLAGS', 'SIOCAIFADDR']);
  t.deepEqual(calls[3]!.arg, { name: 'shmif0', addr: '192.0.2.7', mask: '255.255.255.0' });
  t.is((calls[1]!.arg as { flags: number }).flags & IFF_UP, IFF_UP);
});

test('netmask in hex, broadcast and alias go into one SIOCAIFADDR', async (t) => {
  const { sys, calls } = cannedKernel();
  const r = await run(main, ['shmif0', 'inet', '192.0.2.8', 'netmask', '0xffffff00', 'broadcast', '192.0.2.255', 'alias'], sys);
  t.is(r.status, 0);
  const add = calls.find((c) => c.cmd === 'SIOCAIFADDR');
  t.deepEqual(add?.arg, { name: 'shmif0', addr: '192.0.2.8', mask: '255.255.255.0', broadaddr: '192.0.2.255', alias: true });
});

test('positional netmask, classful default mask, -alias, delete and down', async (t) => {
  const k1 = cannedKernel();
  await run(main, ['shmif0', '10.1.2.3', '255.255.0.0'], k1.sys);
  t.deepEqual(k1.calls.at(-1)?.arg, { name: 'shmif0', addr: '10.1.2.3', mask: '255.255.0.0' });

  const k2 = cannedKernel();
  await run(main, ['shmif0', 'inet', '10.1.2.3'], k2.sys);
  t.deepEqual(k2.calls.at(-1)?.arg, { name: 'shmif0', addr: '10.1.2.3', mask: '255.0.0.0' }, 'class A without a mask is /8');

  const k3 = cannedKernel();
  await run(main, ['shmif0', 'inet', '192.0.2.1', '-alias'], k3.sys);
  t.deepEqual(k3.calls.at(-1), { cmd: 'SIOCDIFADDR', arg: { name: 'shmif0', addr: '192.0.2.1' } });

  const k4 = cannedKernel();
  await run(main, ['shmif0', 'delete'], k4.sys);
  t.deepEqual(k4.calls.at(-1), { cmd: 'SIOCDIFADDR', arg: { name: 'shmif0', addr: '192.0.2.1' } }, 'no address: the first one');

  const k5 = cannedKernel();
  await run(main, ['shmif0', 'down', 'mtu', '1400', '-linkstr'], k5.sys);
  t.deepEqual(k5.calls.map((c) => c.cmd), ['SIOCGIFFLAGS', 'SIOCSIFFLAGS', 'SIOCSIFMTU', 'SIOCSLINKSTR']);
  t.is((k5.calls[1]!.arg as { flags: number }).flags & IFF_UP, 0);
  t.deepEqual(k5.calls[2]!.arg, { name: 'shmif0', mtu: 1400 });
  t.deepEqual(k5.calls[3]!.arg, { name: 'shmif0', linkstr: null });
});

test('a failed SIOCAIFADDR is reported and exits 1; a failed mtu only warns, as on NetBSD', async (t) => {
  const { sys } = cannedKernel({ SIOCAIFADDR: EINVAL, SIOCSIFMTU: EINVAL });
  const r = await run(main, ['shmif0', 'inet', '192.0.2.9/24'], sys);
  t.is(r.err, 'rump.ifconfig: SIOCAIFADDR: Invalid argument\n');
  t.is(r.status, 1);
  const m = await run(main, ['shmif0', 'mtu', '20'], sys);
  t.is(m.err, 'rump.ifconfig: SIOCSIFMTU: Invalid argument\n');
  t.is(m.status, 0);
});

test('a bad address is named; bad words and options print the usage; all exit 1', async (t) => {
  const { sys, calls } = cannedKernel();
  const bad = await run(main, ['shmif0', 'inet', '192.0.2.300/24'], sys);
  t.is(bad.err, 'rump.ifconfig: 192.0.2.300/24: bad value\n');
  t.is(bad.status, 1);
  for (const argv of [['-Z'], ['-a', 'shmif0'], ['shmif0', 'mtu'], ['shmif0', 'mtu', 'big'], ['shmif0', 'destroy', 'up'], ['-l', '-a']]) {
    const r = await run(main, argv, sys);
    t.is(r.status, 1, argv.join(' '));
    t.regex(r.err, /usage: rump\.ifconfig/, argv.join(' '));
    t.is(r.out, '');
  }
  t.deepEqual(calls, [], 'nothing reached the kernel');
});

test('ifconfig -C lists the cloners, -l the names, -u/-d filter', async (t) => {
  const { sys } = cannedKernel();
  t.is((await run(main, ['-C'], sys)).out, 'shmif virt\n');
  t.is((await run(main, ['-l'], sys)).out, 'lo0 shmif0 shmif1\n');
  t.is((await run(main, ['-l', '-d'], sys)).out, '\n');
  t.is((await run(main, ['-l', '-b'], sys)).out, 'shmif0 shmif1\n');
});

test('-v adds the packet counters', (t) => {
  const [, shmif0] = netbsdInterfaces();
  shmif0!.stats = { ...shmif0!.stats, ipackets: 1, ibytes: 42, opackets: 3, obytes: 128, oerrors: 2 };
  t.is(
    formatStatus(shmif0!, true),
    'shmif0: flags=0x8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n' +
      '\taddress: b2:a0:49:01:90:32\n' +
      '\tlinkstr: bus-small\n' +
      '\tinput: 1 packet, 42 bytes\n' +
      '\toutput: 3 packets, 128 bytes, 2 errors\n' +
      '\tinet 192.0.2.1/24 broadcast 192.0.2.255 flags 0x0\n',
  );
});

test('aliases print as NetBSD 8 prints them (inet A/len, flags named); an interface with no flags prints 0x0', (t) => {
  const [, shmif0] = netbsdInterfaces();
  shmif0!.inet.push({ addr: '192.0.2.50', mask: '255.255.255.255', prefixLen: 32, broadaddr: '192.0.2.50', flags: 1 });
  t.true(formatStatus(shmif0!).endsWith('\tinet 192.0.2.50/32 broadcast 192.0.2.50 flags 0x1<TENTATIVE>\n'));
  t.is(formatStatus({ ...shmif0!, flags: 0, lladdr: null, linkstr: null, inet: [] }), 'shmif0: flags=0x0 mtu 1500\n');
});

/* ---- a real kernel's interface ioctls ------------------------------------ */

/** `sys` for a kernel without IPv4 yet: the interface ioctls go straight to ifioctl. */
function kernelSys(): SysLike {
  const k = bootKernel({ components: ['net', 'net_net', 'net_shmif'], host: createSimHost({ seed: 3 }) });
  const ns = netstack(k);
  // The kernel's own calls, except that the ioctl socket needs no protocol family.
  return Object.assign(Object.create(k.sys) as SysLike, {
    socket: async () => 3,
    close: async () => undefined,
    ioctl: async (_fd: number, cmd: string, arg?: unknown) => ifioctl(ns, cmd, arg),
  });
}

test('on a kernel: create, linkstr, up, list, EBUSY, down, -linkstr, destroy', async (t) => {
  const sys = kernelSys();
  t.is((await run(main, ['shmif0', 'create'], sys)).status, 0);
  t.is((await run(main, ['shmif0', 'linkstr', 'bus1', 'up'], sys)).status, 0);
  const list = await run(main, ['shmif0'], sys);
  // NetBSD's lines, and the offloads our shmif does in software (NetBSD's has none).
  const caps = '\\tcapabilities=0x80080<TSO4,LRO>\\n\\tenabled=0x80080<TSO4,LRO>\\n';
  t.regex(list.out, new RegExp(`^shmif0: flags=0x8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500\\n${caps}\\taddress: b2:a0(:[0-9a-f]{2}){4}\\n\\tlinkstr: bus1\\n$`));
  const busy = await run(main, ['shmif0', 'linkstr', 'bus2'], sys);
  t.is(busy.err, 'rump.ifconfig: SIOCSLINKSTR: Device busy\n');
  t.is(busy.status, 1);
  t.is((await run(main, ['shmif0', 'down', '-linkstr'], sys)).status, 0);
  t.regex((await run(main, ['shmif0'], sys)).out, new RegExp(`^shmif0: flags=0x8802<BROADCAST,SIMPLEX,MULTICAST> mtu 1500\\n${caps}\\taddress: [0-9a-f:]{17}\\n$`));
  // The software offloads switch off as a NIC's do.
  t.is((await run(main, ['shmif0', '-tso4', '-lro'], sys)).status, 0);
  t.regex((await run(main, ['shmif0'], sys)).out, /\tenabled=0x0\n/);
  const bogus = await run(main, ['bogus0', 'create'], sys);
  t.is(bogus.err, netbsdTranscript('rump.ifconfig bogus0 create').text);
  t.is((await run(main, ['-C'], sys)).out, 'shmif lo\n', 'newest first, as NetBSD lists its cloners');
  t.is((await run(main, ['shmif0', 'destroy'], sys)).status, 0);
  t.is((await run(main, ['-l'], sys)).out, 'lo0\n');
  const gone = await run(main, ['shmif0'], sys);
  t.is(gone.err, 'rump.ifconfig: SIOCGIFFLAGS shmif0: Device not configured\n');
});

test('on a kernel: up without a bus is exec_matches: Device not configured', async (t) => {
  const sys = kernelSys();
  await run(main, ['shmif0', 'create'], sys);
  const r = await run(main, ['shmif0', 'up'], sys);
  t.is(r.err, 'rump.ifconfig: exec_matches: Device not configured\n');
  t.is(r.status, 1);
});

/** A kernel with IPv4 (NetBSD's rumpnet_netinet, which links carp) and shmif, its interface ioctls straight to ifioctl. */
function inetKernelSys(): SysLike {
  const k = bootKernel({ components: ['net', 'net_net', 'net_netinet', 'net_shmif'], host: createSimHost({ seed: 4 }) });
  const ns = netstack(k);
  return Object.assign(Object.create(k.sys) as SysLike, {
    socket: async () => 3,
    close: async () => undefined,
    ioctl: async (_fd: number, cmd: string, arg?: unknown) => ifioctl(ns, cmd, arg),
  });
}

test('on a kernel with netinet: -C lists "shmif carp lo" as NetBSD does; carp0 is created, listed and destroyed', async (t) => {
  const sys = inetKernelSys();
  t.is((await run(main, ['-C'], sys)).out, 'shmif carp lo\n');
  t.is((await run(main, ['carp0', 'create'], sys)).status, 0);
  t.is((await run(main, ['-l'], sys)).out, 'lo0 carp0\n');
  t.is((await run(main, ['carp0'], sys)).out, 'carp0: flags=0x8802<BROADCAST,SIMPLEX,MULTICAST> mtu 1500\n');
  t.is((await run(main, ['carp0', 'create'], sys)).err, 'rump.ifconfig: clone_command: File exists\nrump.ifconfig: exec_matches: File exists\n');
  t.is((await run(main, ['carp0', 'destroy'], sys)).status, 0);
  t.is((await run(main, ['-l'], sys)).out, 'lo0\n');
});

test('a number names an interface by index, as NetBSD\'s ifunit takes it: listed as nothing, ENXIO when there is none', async (t) => {
  const sys = inetKernelSys();
  await run(main, ['shmif0', 'create'], sys);
  for (const n of ['1', '2']) t.deepEqual(await run(main, [n], sys), { status: 0, out: '', err: '' }, n);
  for (const n of ['0', '3']) t.deepEqual(await run(main, [n], sys), { status: 1, out: '', err: `rump.ifconfig: SIOCGIFFLAGS ${n}: Device not configured\n` }, n);
  // Commands reach the indexed interface: 2 is shmif0.
  t.is((await run(main, ['2', 'mtu', '1280'], sys)).status, 0);
  t.regex((await run(main, ['shmif0'], sys)).out, /mtu 1280\n/);
});

test('families: atalk is not supported (its socket fails), link alone lists the interface', async (t) => {
  const sys = inetKernelSys();
  t.deepEqual(await run(main, ['lo0', 'atalk'], sys), { status: 1, out: '', err: 'rump.ifconfig: socket: Address family not supported by protocol family\n' });
  const link = await run(main, ['lo0', 'link'], sys);
  t.is(link.status, 0);
  t.regex(link.out, /^lo0: flags=/);
});

test('metric n: kept (SIOCSIFMETRIC) and listed before the MTU as NetBSD does; metric 0 hides it again', async (t) => {
  const sys = inetKernelSys();
  t.is((await run(main, ['lo0', 'metric', '10'], sys)).status, 0);
  t.regex((await run(main, ['lo0'], sys)).out, /^lo0: flags=0x8049<UP,LOOPBACK,RUNNING,MULTICAST> metric 10 mtu 33624\n/);
  t.is((await run(main, ['lo0', 'metric', '0'], sys)).status, 0);
  t.regex((await run(main, ['lo0'], sys)).out, /^lo0: flags=0x8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 33624\n/);
  t.is((await run(main, ['lo0', 'metric', 'x'], sys)).status, 1);
});

test('link MAC keeps a spare address, listed as "link MAC"; delete drops it; the active and factory ones are busy', async (t) => {
  const sys = kernelSys();
  t.is((await run(main, ['shmif0', 'create'], sys)).status, 0);
  const factory = /\taddress: ([0-9a-f:]{17})\n/.exec((await run(main, ['shmif0'], sys)).out)?.[1];
  t.truthy(factory);
  t.is((await run(main, ['shmif0', 'link', 'b2:a0:75:00:00:01', 'active'], sys)).status, 0);
  t.is((await run(main, ['shmif0', 'link', 'b2:a0:75:00:00:02'], sys)).status, 0);
  // The active one on the address: line, the factory one and the spare as link lines.
  const list = (await run(main, ['shmif0'], sys)).out;
  t.regex(list, /\taddress: b2:a0:75:00:00:01\n/);
  t.true(list.includes(`\tlink ${factory}\n\tlink b2:a0:75:00:00:02\n`), list);
  t.is((await run(main, ['shmif0', 'link', 'b2:a0:75:00:00:02', 'delete'], sys)).status, 0);
  t.false((await run(main, ['shmif0'], sys)).out.includes('b2:a0:75:00:00:02'));
  const active = await run(main, ['shmif0', 'link', 'b2:a0:75:00:00:01', 'delete'], sys);
  t.deepEqual([active.status, active.err], [1, 'rump.ifconfig: SIOCDLIFADDR: Device busy\n']);
  const hw = await run(main, ['shmif0', 'link', factory!, 'delete'], sys);
  t.deepEqual([hw.status, hw.err], [1, 'rump.ifconfig: SIOCDLIFADDR: Device busy\n']);
  const none = await run(main, ['shmif0', 'link', 'b2:a0:75:00:00:09', 'delete'], sys);
  t.deepEqual([none.status, none.err], [1, "rump.ifconfig: SIOCDLIFADDR: Can't assign requested address\n"]);
  t.regex((await run(main, ['shmif0'], sys)).out, /\taddress: b2:a0:75:00:00:01\n/, 'still the active address');
  // Back to the factory address: 01 becomes the spare.
  t.is((await run(main, ['shmif0', 'link', factory!, 'active'], sys)).status, 0);
  const back = (await run(main, ['shmif0'], sys)).out;
  t.true(back.includes(`\taddress: ${factory}\n`) && back.includes('\tlink b2:a0:75:00:00:01\n'), back);
});
