/*
 * The attacker of bench/flood.ts, in a process of its own so its work does
 * not share the kernels' thread: it maps a shmif bus and writes spoofed
 * SYNs (bench/flood_frames.ts) onto it at a steady rate, one batch per
 * millisecond under the bus lock, one wake-up per batch, as a NIC on that
 * bus would. No kernel: the frames are the attack, nothing answers them.
 *
 *   node --import=tsx bench/flood_syn.ts BUS DSTMAC DSTIP PORT RATE SECONDS
 *
 * Prints "ready" once mapped, then at the end one JSON line:
 * { sent, seconds, lockFailures }.
 */
import { performance } from 'node:perf_hooks';
import { createNodeHost } from '../hypercall/node.js';
import { BUS_SIZE, BusWriter, busAttach, busWakeup } from '../shmif/bus.js';
import { SpoofedSyns, SYN_FRAME_LEN } from './flood_frames.js';

const [bus, dstMac, dstIp, port, rate, seconds] = process.argv.slice(2);
if (seconds === undefined) {
  process.stderr.write('usage: flood_syn bus dstmac dstip port rate seconds\n');
  process.exit(1);
}
const mac = Uint8Array.from(dstMac!.split(':').map((h) => parseInt(h, 16)));
const dst = dstIp!.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
const host = createNodeHost();
const map = host.mapBus(bus!, BUS_SIZE);
busAttach(map);
const writer = new BusWriter(map, 0x5eed, 0xf100d);
const syns = new SpoofedSyns(mac, Uint8Array.from([0x02, 0, 0x5e, 0x10, 0x20, 0x30]), dst, Number(port));
const perMs = Number(rate) / 1000;
const endMs = Number(seconds) * 1000;
process.stdout.write('ready\n');

const t0 = performance.now();
let sent = 0;
/** Write what is due by now (rate × elapsed), then come back in a millisecond. */
function tick(): void {
  const elapsed = performance.now() - t0;
  const due = Math.floor(Math.min(elapsed, endMs) * perMs);
  if (due > sent && writer.lock()) {
    const sec = Math.floor(elapsed / 1000);
    while (sent < due) {
      writer.put(syns.make(sent), 0, SYN_FRAME_LEN, sec, 0);
      sent++;
    }
    writer.unlock();
    busWakeup(map);
  }
  if (elapsed < endMs) setTimeout(tick, 1);
  else {
    process.stdout.write(`${JSON.stringify({ sent, seconds: (performance.now() - t0) / 1000, lockFailures: writer.lockFailures })}\n`);
    map.close();
    process.exit(0);
  }
}
tick();
