// An ordinary Node program that fetches by name, unaware of rump kernels; run under the hijack
// by test/interop/dns.test.ts. Prints one line per result.
import dns from 'node:dns';
import http from 'node:http';
import os from 'node:os';

const url = process.env.URL;
const say = (s) => console.log(s);
const show = (p) => p.then((v) => JSON.stringify(v), (e) => `error ${e.code}`);

say(`lookup: ${await show(dns.promises.lookup(new URL(url).hostname, 4))}`);
say(`fetch: ${await fetch(url).then((r) => r.text(), (e) => `error ${e.cause?.code ?? e.message}`)}`);
say(`http.get: ${await new Promise((r) => {
  http.get(url, (res) => {
    let b = '';
    res.on('data', (d) => (b += d));
    res.on('end', () => r(b));
  }).on('error', (e) => r(`error ${e.code}`));
})}`);
say(`host's own name: ${(await show(dns.promises.lookup(os.hostname(), 4))).startsWith('error') ? 'not resolved' : 'resolved'}`);
