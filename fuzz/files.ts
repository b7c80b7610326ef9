/*
 * Targets over files a user or another process hands the tools: a shmif
 * bus image (any process that maps the bus can write anything into it) and
 * a pcap capture (shmif_pcapin's input). The bus is an in-memory mapping
 * (test/shmif/membus.ts); the input is its first bytes (header and the
 * start of the ring), the rest stays as the writer left it.
 *
 * The bus reader must never throw on a corrupted bus: it counts and
 * resyncs. readPcap, pcapIn and dumpBus refuse bad files with an Error (or
 * an Errno) that says why; a TypeError, RangeError or the like is a crash.
 */
import { Errno } from '../kern/errno.js';
import { PcapWriter } from '../net/wire/pcap.js';
import { BusReader, BusWriter, MAX_FRAME, MIN_FRAME, busAttach } from '../shmif/bus.js';
import { dumpBus } from '../shmif/dumpbus.js';
import { pcapIn } from '../shmif/pcapin.js';
import { MemBusMapping } from '../test/shmif/membus.js';
import type { Session, Target } from './target.js';

/** A refusal is a plain Error or an Errno, never a TypeError, RangeError, ... */
function refusal(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof Errno) && (e as Error)?.constructor !== Error) throw e;
  }
}

function sampleFrames(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const len of [14, 42, 60, 100, 590, 1514]) {
    const f = new Uint8Array(len);
    f.fill(0xff, 0, 6);
    f.set([0xb2, 0xa0, 0, 0, 0, 1], 6);
    f[12] = 0x08;
    for (let i = 14; i < len; i++) f[i] = i & 0xff;
    out.push(f);
  }
  return out;
}

function session(corpus: Uint8Array[], maxLen: number, feed: (x: Uint8Array) => void, problems: string[]): Session {
  return { corpus, maxLen, feed, batchEnd: async () => {}, close: async () => problems.splice(0) };
}

const IMAGE = 8192;

export const shmifTarget: Target = {
  name: 'shmif-bus',
  async open() {
    const map = new MemBusMapping();
    busAttach(map);
    const w = new BusWriter(map, 1, 0);
    for (const f of sampleFrames()) w.put(f, 0, f.length, 1, 2);
    const clean = map.bytes.slice(0, IMAGE);
    const problems: string[] = [];
    const deliver = (_b: Uint8Array, _off: number, len: number): void => {
      if (len < MIN_FRAME || len > MAX_FRAME) problems.push(`the bus reader delivered a ${len}-byte frame`);
    };
    return session([clean], IMAGE, (x) => {
      map.bytes.set(clean, 0);
      map.bytes.set(x, 0);
      const r = new BusReader(map);
      r.lockSpins = 2;
      r.poll(deliver, 2, 0);
      r.sync();
      r.poll(deliver, 2, 0);
      refusal(() => void dumpBus(map.bytes));
    }, problems);
  },
};

export const pcapTarget: Target = {
  name: 'pcap-in',
  async open() {
    const pw = new PcapWriter();
    const frames = sampleFrames();
    frames.forEach((f, i) => pw.write(f, 0, f.length, 100 + i, i * 1000));
    const small = new PcapWriter({ snaplen: 64 });
    frames.slice(0, 4).forEach((f, i) => small.write(f, 0, f.length, i, 0));
    const map = new MemBusMapping();
    return session([pw.bytes(), small.bytes()], 8192, (x) => {
      map.bytes.fill(0, 0, 16384);
      refusal(() => void pcapIn(x, map, { senderLo: 7 }));
    }, []);
  },
};
