// A download over a lossy, slow link, in virtual time.
//
//   client 10.0.1.1 ── 20 ms, 2 % loss, 10 Mbit/s ── 10.0.1.2 server
//
// An ordinary Node http server on one lab host, http.get on the other,
// TCP (NetBSD's, in TypeScript) recovering from every lost segment. The
// whole exchange is written to a pcapng: open it with wireshark or
//   tshark -r lossy-download.pcapng -Y tcp.analysis.retransmission
//
//   node examples/lossy-download.mjs [out.pcapng]
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { createLab } from 'rumpnet/lab';

const out = process.argv[2] ?? 'lossy-download.pcapng';
const lab = createLab({ seed: 1 });
const client = lab.host('client');
const server = lab.host('server');
const link = lab.link(client, server, { delay: 20, loss: 0.02, rate: 10e6 });

const body = Buffer.alloc(1_000_000, 'x');
const srv = http.createServer((req, res) => res.end(body));
server.net.listen(srv, 80);

const t0 = lab.now();
const got = await lab.runUntil(new Promise((resolve, reject) => {
  const req = http.get({
    host: 'server', port: 80, path: '/file',
    // The request goes out through the client host's kernel.
    createConnection: (opts) => client.net.createConnection(opts),
  }, (res) => {
    let n = 0;
    res.on('data', (chunk) => { n += chunk.length; });
    res.on('end', () => resolve(n));
  });
  req.on('error', reject);
}));
const seconds = (lab.now() - t0) / 1000;

console.log(`downloaded ${got} bytes in ${seconds.toFixed(2)} s of virtual time`);
console.log(`frames the link lost: ${link.faults(server).lost} from the server, ${link.faults(client).lost} from the client`);
srv.close();
await lab.halt();
writeFileSync(out, lab.pcapng());
console.log(`capture: ${out}`);
if (got !== body.length) process.exit(1);
