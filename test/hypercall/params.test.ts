// Bootstrap parameters, rule by rule, as rumpkernel(7) documents them.
import test from 'ava';

import { BootParamError, parseBootParams } from '../../hypercall/params.js';

const HOST_NCPU = 6;

function boot(env: Record<string, string | undefined>) {
  return parseBootParams((name) => env[name], HOST_NCPU);
}

test('with nothing set: 2 CPUs, quiet, no memory limit', (t) => {
  t.deepEqual(boot({}), { ncpu: 2, verbose: false, memlimit: Infinity });
});

const ncpuOk: Array<[string | undefined, number]> = [
  ['1', 1],
  ['4', 4],
  ['host', HOST_NCPU],
  [undefined, 2],
];
for (const [value, ncpu] of ncpuOk) {
  test(`RUMP_NCPU=${JSON.stringify(value)} gives hw.ncpu ${ncpu}`, (t) => {
    t.is(boot({ RUMP_NCPU: value }).ncpu, ncpu);
  });
}

for (const value of ['0', '-1', '1.5', 'two', ' 2', '', 'HOST', '2 ', '0x2', '99999999999999999999']) {
  test(`RUMP_NCPU=${JSON.stringify(value)} is a boot error naming the variable and the value`, (t) => {
    const err = t.throws(() => boot({ RUMP_NCPU: value }), { instanceOf: BootParamError });
    t.is(err.param, 'RUMP_NCPU');
    t.is(err.value, value);
    t.is(err.message, `RUMP_NCPU: invalid value ${JSON.stringify(value)}: expected an integer >= 1 or "host"`);
  });
}

const memOk: Array<[string | undefined, number]> = [
  ['4096', 4096],
  ['64k', 64 * 1024],
  ['8m', 8 * 1024 * 1024],
  ['1g', 1024 * 1024 * 1024],
  ['0', 0],
  [undefined, Infinity],
];
for (const [value, bytes] of memOk) {
  test(`RUMP_MEMLIMIT=${JSON.stringify(value)} is ${bytes} bytes`, (t) => {
    t.is(boot({ RUMP_MEMLIMIT: value }).memlimit, bytes);
  });
}

for (const value of ['1K', '1kk', 'k', '-5', '1.5m', '', ' 64k', '64k ', '1t', '1M', '1e6', '1km']) {
  test(`RUMP_MEMLIMIT=${JSON.stringify(value)} is a boot error naming the variable and the value`, (t) => {
    const err = t.throws(() => boot({ RUMP_MEMLIMIT: value }), { instanceOf: BootParamError });
    t.is(err.param, 'RUMP_MEMLIMIT');
    t.true(err.message.startsWith(`RUMP_MEMLIMIT: invalid value ${JSON.stringify(value)}: expected `));
  });
}

const verbose: Array<[string | undefined, boolean]> = [
  ['1', true],
  ['yes', true],
  ['0', false],
  ['00', false],
  ['', false],
  [undefined, false],
];
for (const [value, on] of verbose) {
  test(`RUMP_VERBOSE=${JSON.stringify(value)} is ${on ? 'verbose' : 'quiet'}`, (t) => {
    t.is(boot({ RUMP_VERBOSE: value }).verbose, on);
  });
}

test('RUMP_NCPU=host never gives fewer than one CPU', (t) => {
  t.is(parseBootParams((n) => (n === 'RUMP_NCPU' ? 'host' : undefined), 0).ncpu, 1);
});

test('the parameters are read through the getter, by their rumpkernel(7) names', (t) => {
  const asked: string[] = [];
  parseBootParams((name) => {
    asked.push(name);
    return undefined;
  }, 1);
  t.deepEqual(asked.sort(), ['RUMP_MEMLIMIT', 'RUMP_NCPU', 'RUMP_VERBOSE']);
});
