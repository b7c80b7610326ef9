/*
 * Shell lines, interpreted against a kernel and never run: sysctl through
 * a profile's names (with its documented no-ops), sockstat over the
 * kernel's PCB list, grep/wc in pipelines, tcpdrop through the kernel's
 * call; anything else is refused by name.
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';

import { createSimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET } from '../../kern/sys.js';
import { ScriptFailure, Unsupported } from '../../packetdrill/failure.js';
import { FREEBSD_PROFILE, NO_PROFILE, applyProfile, writeSysctl, type Profile } from '../../packetdrill/profile.js';
import { bsdStateName, runShellCommand, splitPipeline } from '../../packetdrill/shell.js';

function kernel(): Kernel {
  return bootKernel({ components: ['net', 'net_net', 'net_netinet'], host: createSimHost() });
}

const PCBS = [
  { proto: 'tcp', laddr: '0.0.0.0', lport: 8080, faddr: '0.0.0.0', fport: 0, state: 'LISTEN' },
  { proto: 'tcp', laddr: '192.168.0.1', lport: 8080, faddr: '192.0.2.1', fport: 40000, state: 'TIME_WAIT' },
  { proto: 'tcp', laddr: '192.168.0.1', lport: 8080, faddr: '192.0.2.1', fport: 40001, state: 'SYN_RCVD' },
  { proto: 'tcp', laddr: '192.168.0.1', lport: 55555, faddr: '192.0.2.1', fport: 9, state: 'ESTABLISHED' },
  { proto: 'udp', laddr: '0.0.0.0', lport: 53, faddr: '0.0.0.0', fport: 0 },
];

/** A kernel whose pcblist answers PCBS and whose tcpdrop calls are recorded. */
function fakeTcpKernel(): { k: Kernel; dropped: unknown[] } {
  const k = kernel();
  const dropped: unknown[] = [];
  k.sys.extend('pcblist', () => PCBS.map((p) => ({ recvQ: 0, sendQ: 0, family: AF_INET, ...p })));
  k.sys.extend('tcpdrop', (tuple) => dropped.push(tuple));
  return { k, dropped };
}

test('pipelines split on |, with quotes; sequences, redirections and substitutions are refused', (t) => {
  t.deepEqual(splitPipeline(`sockstat -4 -P tcp -s | grep 'pack etdril' | grep -c "TIME_WAIT" | grep 1`), [
    ['sockstat', '-4', '-P', 'tcp', '-s'], ['grep', 'pack etdril'], ['grep', '-c', 'TIME_WAIT'], ['grep', '1'],
  ]);
  for (const c of ['sysctl a=1; sysctl b=2', 'true && true', 'sockstat > /tmp/x', 'echo $(id)', 'a || b']) {
    t.throws(() => splitPipeline(c), { instanceOf: Unsupported }, c);
  }
});

test('sockstat | grep -c STATE | grep N counts the kernel connections in that state', async (t) => {
  const { k } = fakeTcpKernel();
  const env = { kernel: k, profile: NO_PROFILE };
  await t.notThrowsAsync(runShellCommand('sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1', env));
  await t.notThrowsAsync(runShellCommand('sockstat -4 -P tcp -p 8080 -s | grep -c SYN_RCVD | grep 1', env));
  await t.notThrowsAsync(runShellCommand('sockstat -4 -P tcp -s -p 8080 | grep -c ESTABLISHED | grep 0', env), '-p filters on either port');
  await t.notThrowsAsync(runShellCommand('sockstat -4 -P udp | wc -l | grep 2', env), 'header and one line');
  await t.notThrowsAsync(runShellCommand('sockstat -4q -P tcp -l | grep -c LISTEN | grep 0', env), 'no state column without -s');
  const e = await t.throwsAsync(runShellCommand('sockstat -4 -P tcp -s | grep -c TIME_WAIT | grep 2', env), { instanceOf: ScriptFailure });
  t.is(e.reason, '`sockstat -4 -P tcp -s | grep -c TIME_WAIT | grep 2` exited with status 1');
  t.true(e.details.includes('      root     packetdril     1   ?? tcp4   192.168.0.1:8080      192.0.2.1:40000       TIME_WAIT'));
  await t.throwsAsync(runShellCommand('sockstat -j 1', env), { instanceOf: Unsupported, message: /sockstat -j/ });
});

test('grep: -c counts, -v inverts, -w whole words, basic regular expressions', async (t) => {
  const { k } = fakeTcpKernel();
  const env = { kernel: k, profile: NO_PROFILE };
  await t.notThrowsAsync(runShellCommand('sockstat -4 -s | grep -v LISTEN | grep -c tcp4 | grep 3', env));
  await t.notThrowsAsync(runShellCommand('sockstat -4 -s | grep -c -w 8080 | grep 3', env));
  await t.notThrowsAsync(runShellCommand('sockstat -4 -s | grep -c "40.0.$" | grep 0', env));
  await t.notThrowsAsync(runShellCommand("sockstat -4 -s | grep -c 'SYN_RCVD\\|TIME_WAIT' | grep 2", env));
  await t.throwsAsync(runShellCommand('sockstat -4 -s | grep -q NOPE', env), { message: /exited with status 1/ });
});

test('tcpdrop -s STATE drops each connection in that state through the kernel', async (t) => {
  const { k, dropped } = fakeTcpKernel();
  await runShellCommand('tcpdrop -s TIME_WAIT', { kernel: k, profile: NO_PROFILE });
  t.deepEqual(dropped, [{ laddr: '192.168.0.1', lport: 8080, faddr: '192.0.2.1', fport: 40000 }]);
  await runShellCommand('tcpdrop 192.168.0.1 55555 192.0.2.1 9', { kernel: k, profile: NO_PROFILE });
  t.is(dropped.length, 2);
  await t.throwsAsync(runShellCommand('tcpdrop 192.168.0.1 1 192.0.2.1 9', { kernel: k, profile: NO_PROFILE }), { message: /no such connection/ });
});

test('sysctl -w writes the kernel; other programs are never run', async (t) => {
  const k = kernel();
  await runShellCommand('sysctl -w net.inet.ip.ttl=17', { kernel: k, profile: NO_PROFILE });
  t.is(k.sysctl.get('net.inet.ip.ttl'), 17);
  await t.notThrowsAsync(runShellCommand('sysctl -n net.inet.ip.ttl | grep -x 17', { kernel: k, profile: NO_PROFILE }));
  await t.throwsAsync(runShellCommand('sysctl -w net.inet.ip.ttl=999', { kernel: k, profile: NO_PROFILE }), { message: /net\.inet\.ip\.ttl=999: EINVAL/ });
  await t.throwsAsync(runShellCommand('rm -rf /', { kernel: k, profile: NO_PROFILE }), { instanceOf: Unsupported, message: /shell command 'rm' is not interpreted/ });
});

test('documented no-ops pass only with the value the kernel already honours; unknown names fail', (t) => {
  const k = kernel();
  const profile: Profile = {
    name: 'test',
    osName: 'Test',
    rules: [
      { name: 'test.purge', preset: null, noop: { values: 'any', why: 'nothing is cached' } },
      { name: 'test.cookies_only', preset: null, noop: { values: [0], why: 'cookies are never the only way' } },
    ],
  };
  t.deepEqual(writeSysctl(k, profile, 'test.purge', '1'), { name: 'test.purge', kernelName: null, old: null, value: '1', noop: 'nothing is cached' });
  t.is(writeSysctl(k, profile, 'test.cookies_only', '0').noop, 'cookies are never the only way');
  t.throws(() => writeSysctl(k, profile, 'test.cookies_only', '1'), {
    message: 'sysctl test.cookies_only: this kernel has no such variable; only test.cookies_only=0 is a no-op here (cookies are never the only way)',
  });
  t.throws(() => writeSysctl(k, NO_PROFILE, 'test.purge', '1'), { message: 'sysctl test.purge: this kernel has no such variable' });
  const purge = FREEBSD_PROFILE.rules.find((r) => r.name === 'net.inet.tcp.hostcache.purgenow');
  t.deepEqual(purge?.noop?.values, 'any', 'packetdrill.md lists hostcache.purgenow as a no-op');
});

test('a profile maps names to the kernel aliases and reports every preset it cannot set, together', (t) => {
  const k = kernel();
  let sbmax = 0;
  k.sysctl.int('test.netbsd.sbmax', () => sbmax, (v) => {
    sbmax = v;
  }, 0, 0x7fffffff);
  const profile: Profile = {
    name: 'test',
    osName: 'Test',
    rules: [
      { name: 'test.freebsd.maxsockbuf', preset: 2097152, aliases: ['test.netbsd.sbmax'] },
      { name: 'net.inet.ip.ttl', preset: 64 },
      { name: 'test.absent.one', preset: 1 },
      { name: 'test.absent.two', preset: 2 },
    ],
  };
  const e = t.throws(() => applyProfile(k, profile), { instanceOf: ScriptFailure });
  t.is(e.reason, 'the test profile cannot be applied to this kernel');
  t.deepEqual(e.details, ['  the kernel has no sysctl for: test.absent.one=1, test.absent.two=2']);
  t.is(sbmax, 2097152, 'written through the alias');
  t.is(writeSysctl(k, profile, 'test.freebsd.maxsockbuf', '73728').kernelName, 'test.netbsd.sbmax');
});

test('state names: the kernel numbers or names, shown as BSD tcpstates[]', (t) => {
  t.is(bsdStateName(3), 'SYN_RCVD');
  t.is(bsdStateName('SYN_RECEIVED'), 'SYN_RCVD');
  t.is(bsdStateName('time_wait'), 'TIME_WAIT');
  t.is(bsdStateName(10), 'TIME_WAIT');
});
