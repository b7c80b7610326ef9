// Routers in the path: what traceroute sees, and what TTL does.
//
//   a 10.0.1.1 ── r1 ── 10.0.2.0/24 ── r2 ── 10.0.3.2 b
//
// The lab gives every host its addresses and routes. rump.traceroute (the
// NetBSD tool, here run in-process on host a) sends probes with TTL 1, 2,
// 3: each router answers the probe whose TTL runs out with ICMP time
// exceeded, b answers with port unreachable. Then a datagram with TTL 2
// dies at r2, and one with TTL 3 arrives.
//
//   node examples/router.mjs [out.pcapng]
import { writeFileSync } from 'node:fs';
import { createLab } from 'rumpnet/lab';
import { main as traceroute } from 'rumpnet/bin/rump.traceroute';

const out = process.argv[2] ?? 'router.pcapng';
const lab = createLab({ seed: 3 });
const a = lab.host('a');
const r1 = lab.router('r1');
const r2 = lab.router('r2');
const b = lab.host('b');
lab.link(a, r1, { delay: 2 });
lab.link(r1, r2, { delay: 10 });
lab.link(r2, b, { delay: 2 });

// rump.traceroute -n b, on host a, on the lab's clock.
const io = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stdout.write(s), sys: a.sys, clock: lab.clock };
const status = await lab.runUntil(traceroute(['-n', '-q', '2', 'b'], io));

// TTL by hand: a datagram needs TTL 3 to cross two routers.
const sink = b.dgram.createSocket('udp4');
const seen = [];
sink.on('message', (m) => seen.push(m.toString()));
sink.bind(7);
const sock = a.dgram.createSocket('udp4');
sock.bind(0, () => {
  sock.setTTL(2);
  // Sends are asynchronous: the TTL changes once the first has gone.
  sock.send('ttl 2', 7, 'b', () => {
    sock.setTTL(3);
    sock.send('ttl 3', 7, 'b');
  });
});
await lab.run(1000);
console.log(`b received: ${JSON.stringify(seen)}`);
sock.close();
sink.close();
await lab.halt();
writeFileSync(out, lab.pcapng());
console.log(`capture: ${out}`);
if (status !== 0 || seen.join() !== 'ttl 3') process.exit(1);
