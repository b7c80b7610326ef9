// A partition in the middle of a TCP connection.
//
//   a 10.0.1.1 ── lan ── 10.0.1.2 b
//
// 1. a streams to b; the network is cut for 20 s; TCP retransmits with
//    backoff, and after the heal every byte arrives, in order, on the same
//    connection.
// 2. cut again and never healed: TCP gives up after its retransmissions
//    (NetBSD's 12, with exponential backoff) and the socket errors with
//    ETIMEDOUT, minutes of network time in milliseconds of real time.
//
//   node examples/partition.mjs [out.pcapng]
import { writeFileSync } from 'node:fs';
import { createLab } from 'rumpnet/lab';

const out = process.argv[2] ?? 'partition.pcapng';
const lab = createLab({ seed: 2 });
const a = lab.host('a');
const b = lab.host('b');
lab.bus('lan', [a, b], { conditions: { delay: 5 } });

let received = '';
let arrived = () => {};
b.net.createServer((sock) => sock.on('data', (d) => { received += d; arrived(); })).listen(9000);
/** Resolves once b has received text ending with `tail`. */
const until = (tail) => new Promise((resolve) => {
  arrived = () => { if (received.endsWith(tail)) resolve(); };
});
const conn = a.net.connect(9000, 'b');
await lab.runUntil(new Promise((resolve) => conn.once('connect', resolve)));

conn.write('before ');
await lab.run(1000);
lab.partition(a, b);
console.log(`${lab.now()} ms: partitioned`);
conn.write('during ');
await lab.run(20_000);
console.log(`${lab.now()} ms: b has "${received}" (nothing crossed the cut)`);
lab.heal();
console.log(`${lab.now()} ms: healed`);
conn.write('after');
await lab.runUntil(until('after'));
console.log(`${lab.now()} ms: b has "${received}"`);
if (received !== 'before during after') process.exit(1);

// Cut for good: the connection times out as TCP does.
lab.partition(a, b);
const t0 = lab.now();
conn.write('lost');
const err = await lab.runUntil(new Promise((resolve) => conn.once('error', resolve)));
console.log(`${lab.now()} ms: ${err.code} after ${((lab.now() - t0) / 1000).toFixed(1)} s of retransmissions`);
conn.destroy();
await lab.halt();
writeFileSync(out, lab.pcapng());
console.log(`capture: ${out}`);
if (err.code !== 'ETIMEDOUT') process.exit(1);
