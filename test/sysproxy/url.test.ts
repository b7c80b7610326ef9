// RUMP_SERVER URLs: unix sockets relative or absolute, TCP on loopback only.
import test from 'ava';

import { parseRumpUrl, formatRumpUrl } from '../../sysproxy/url.js';

test('unix://PATH is relative to the current directory, unix:///PATH absolute', (t) => {
  t.deepEqual(parseRumpUrl('unix://sock', '/work/dir'), { kind: 'unix', path: '/work/dir/sock' });
  t.deepEqual(parseRumpUrl('unix://./a/b', '/w'), { kind: 'unix', path: '/w/a/b' });
  t.deepEqual(parseRumpUrl('unix:///tmp/s1', '/w'), { kind: 'unix', path: '/tmp/s1' });
  t.is(formatRumpUrl(parseRumpUrl('unix:///tmp/s1')), 'unix:///tmp/s1');
});

test('tcp:// takes IPv4 loopback literals and localhost', (t) => {
  t.deepEqual(parseRumpUrl('tcp://127.0.0.1:12345'), { kind: 'tcp', host: '127.0.0.1', port: 12345 });
  t.deepEqual(parseRumpUrl('tcp://127.1.2.3:1/'), { kind: 'tcp', host: '127.1.2.3', port: 1 });
  t.deepEqual(parseRumpUrl('tcp://localhost:65535'), { kind: 'tcp', host: '127.0.0.1', port: 65535 });
  t.deepEqual(parseRumpUrl('tcp://127.0.0.1:0'), { kind: 'tcp', host: '127.0.0.1', port: 0 });
  t.is(formatRumpUrl(parseRumpUrl('tcp://localhost:80')), 'tcp://127.0.0.1:80');
});

for (const host of ['0.0.0.0', '10.0.0.1', '192.0.2.1', '128.0.0.1', 'example.com', '[::1]', '127.0.0.256', '']) {
  test(`tcp://${host}:1234 is refused: the server is a full-control endpoint`, (t) => {
    t.throws(() => parseRumpUrl(`tcp://${host}:1234`), { message: /not an IPv4 loopback address|bad port/ });
  });
}

const bad: Array<[string, RegExp]> = [
  ['', /empty/],
  ['/tmp/sock', /expected unix:\/\/PATH or tcp:\/\/127\.0\.0\.1:PORT/],
  ['unix://', /no socket path/],
  ['http://127.0.0.1:80', /unknown scheme "http"/],
  ['tcp://127.0.0.1', /no port/],
  ['tcp://127.0.0.1:', /bad port ""/],
  ['tcp://127.0.0.1:65536', /bad port "65536"/],
  ['tcp://127.0.0.1:-1', /bad port/],
  ['tcp://127.0.0.1:80x', /bad port/],
  ['unix:///' + 'x'.repeat(200), /longer than 107 bytes/],
];
for (const [url, message] of bad) {
  test(`"${url.length > 40 ? url.slice(0, 40) + '...' : url}" is refused with a clear message`, (t) => {
    const err = t.throws(() => parseRumpUrl(url), { message });
    t.regex(err.message, /^bad rump server URL/);
  });
}
