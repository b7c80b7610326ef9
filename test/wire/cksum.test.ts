import test from 'ava';

import {
  cksumAdd,
  cksumAdjust16,
  cksumFinish,
  cksumFold,
  inCksum,
  pseudoHeaderSum,
} from '../../net/wire/cksum.js';
import {
  FRAME_ECHO_REPLY,
  FRAME_ECHO_REQUEST,
  busSmallFrame,
  fromHex,
  makePrng,
  naiveSum,
  randomBytes,
} from './helpers.js';

test('RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2, checksum 0x220d', (t) => {
  const bytes = fromHex('0001f203f4f5f6f7');
  t.is(cksumAdd(0, bytes, 0, 8), 0xddf2);
  t.is(inCksum(bytes, 0, 8), 0x220d);
  // Storing the checksum with the data makes the whole verify to 0.
  const withSum = fromHex('0001f203f4f5f6f7220d');
  t.is(inCksum(withSum, 0, withSum.length), 0);
});

test('an odd trailing byte is the high half of a zero-padded word', (t) => {
  t.is(cksumAdd(0, fromHex('0001f2'), 0, 3), 0xf201);
  t.is(cksumAdd(0, fromHex('ab'), 0, 1), 0xab00);
  // The byte after the range is not read.
  t.is(cksumAdd(0, fromHex('0001f2ff'), 0, 3), 0xf201);
});

test('an empty range leaves the sum unchanged; all-ones and all-zero data', (t) => {
  t.is(cksumAdd(0x1234, new Uint8Array(4), 0, 0), 0x1234);
  t.is(cksumAdd(0, new Uint8Array(300).fill(0xff), 0, 300), 0xffff);
  t.is(inCksum(new Uint8Array(300).fill(0xff), 0, 300), 0);
  t.is(inCksum(new Uint8Array(300), 0, 300), 0xffff);
});

test('the same bytes give the same sum at any offset and any byteOffset (odd or even)', (t) => {
  const next = makePrng(0x5eed1);
  for (const len of [1, 2, 3, 20, 63, 127, 128, 129, 200, 1500, 1501, 9001]) {
    const data = randomBytes(next, len);
    const expected = naiveSum(data);
    for (let pad = 0; pad < 4; pad++) {
      // The data at offset `pad` of a Uint8Array that itself starts at byteOffset 0..3.
      for (let viewStart = 0; viewStart < 4; viewStart++) {
        const backing = new Uint8Array(viewStart + pad + len + 5).fill(0xa5);
        const view = backing.subarray(viewStart);
        view.set(data, pad);
        t.is(cksumAdd(0, view, pad, len), expected, `len ${len} pad ${pad} byteOffset ${viewStart}`);
      }
    }
  }
});

test('buffers over a SharedArrayBuffer and Node Buffers from the pool sum the same', (t) => {
  const next = makePrng(31337);
  const data = randomBytes(next, 3001);
  const shared = new Uint8Array(new SharedArrayBuffer(3010), 3, 3001);
  shared.set(data);
  t.is(cksumAdd(0, shared, 0, 3001), naiveSum(data));
  const pooled = Buffer.from(data);
  t.is(cksumAdd(0, pooled, 1, 3000), naiveSum(data.subarray(1)));
});

test('agrees with a naive RFC 1071 implementation on seeded random buffers', (t) => {
  const next = makePrng(20240607);
  for (let round = 0; round < 600; round++) {
    const len = round < 300 ? round : next() % 4000;
    const data = randomBytes(next, len);
    const initial = round % 3 === 0 ? 0 : next() % 0x30000;
    t.is(cksumAdd(initial, data, 0, len), naiveSum(data, initial), `round ${round} len ${len}`);
    t.is(inCksum(data, 0, len, initial), ~naiveSum(data, initial) & 0xffff);
  }
  // Long buffers cross the internal folding chunk (1 MiB).
  for (const len of [65535, (1 << 20) + 17, (1 << 21) + 3]) {
    const data = randomBytes(next, len);
    t.is(cksumAdd(0, data, 0, len), naiveSum(data), `len ${len}`);
  }
});

test('pieces of even length chain to the sum of the whole', (t) => {
  const next = makePrng(7);
  const data = randomBytes(next, 1501);
  let sum = 0;
  sum = cksumAdd(sum, data, 0, 20);
  sum = cksumAdd(sum, data, 20, 480);
  sum = cksumAdd(sum, data, 500, 1001);
  t.is(sum, cksumAdd(0, data, 0, 1501));
});

test('cksumFold and cksumFinish accept large unfolded accumulators', (t) => {
  t.is(cksumFold(0x1ffff), 0x1);
  t.is(cksumFold(0xffff), 0xffff);
  t.is(cksumFold(2 ** 52 + 5), naiveSum(new Uint8Array(0), 2 ** 52 + 5));
  t.is(cksumFinish(0xddf2), 0x220d);
  t.is(cksumFinish(0x1ddf1), 0x220d); // 0xddf1 + carry 1
});

test('a range past the end of the buffer is clipped, never thrown on', (t) => {
  const data = fromHex('0001f203f4f5f6f7');
  t.is(cksumAdd(0, data, 4, 100), cksumAdd(0, data, 4, 4));
  t.is(cksumAdd(0, data, 8, 10), 0);
  t.is(cksumAdd(0, data, 50, 10), 0);
  t.is(cksumAdd(7, data, -1, 4), 7);
  t.is(cksumAdd(0, new Uint8Array(400), 3, 10_000), 0);
  t.notThrows(() => inCksum(new Uint8Array(0), 0, 64));
});

test('pseudoHeaderSum equals the naive sum of the 12-byte pseudo header', (t) => {
  const next = makePrng(99);
  for (let i = 0; i < 200; i++) {
    const src = next();
    const dst = next();
    const proto = next() & 0xff;
    const len = next() & 0xffff;
    const ph = new Uint8Array(12);
    const v = new DataView(ph.buffer);
    v.setUint32(0, src);
    v.setUint32(4, dst);
    v.setUint8(9, proto);
    v.setUint16(10, len);
    t.is(pseudoHeaderSum(src, dst, proto, len), naiveSum(ph));
  }
});

test('RFC 1624 §4 example: m 0x5555 -> 0x3285 under HC 0xdd2f gives 0x0000, not 0xffff', (t) => {
  t.is(cksumAdjust16(0xdd2f, 0x5555, 0x3285), 0x0000);
});

test('incremental update agrees with recomputation for any one-word change', (t) => {
  const next = makePrng(1624);
  for (let round = 0; round < 500; round++) {
    const hdr = randomBytes(next, 20);
    hdr[10] = 0;
    hdr[11] = 0;
    const sum = inCksum(hdr, 0, 20);
    hdr[10] = sum >>> 8;
    hdr[11] = sum & 0xff;
    const at = 2 * (next() % 10);
    if (at === 10) continue;
    const oldWord = (hdr[at]! << 8) | hdr[at + 1]!;
    const newWord = next() & 0xffff;
    hdr[at] = newWord >>> 8;
    hdr[at + 1] = newWord & 0xff;
    const adjusted = cksumAdjust16(sum, oldWord, newWord);
    hdr[10] = adjusted >>> 8;
    hdr[11] = adjusted & 0xff;
    t.is(inCksum(hdr, 0, 20), 0, `round ${round}`);
  }
});

test('real NetBSD packets verify: IP header and ICMP message checksums', (t) => {
  for (const i of [FRAME_ECHO_REQUEST, FRAME_ECHO_REPLY]) {
    const frame = busSmallFrame(i);
    t.is(inCksum(frame, 14, 20), 0, `IP header of frame ${i}`);
    t.is(inCksum(frame, 34, frame.length - 34), 0, `ICMP of frame ${i}`);
    // And recomputing the stored values gives NetBSD's bytes.
    const ipSum = (frame[24]! << 8) | frame[25]!;
    frame[24] = frame[25] = 0;
    t.is(inCksum(frame, 14, 20), ipSum);
  }
});

test('bytes next to the piece in the same 32-bit word never count; a piece ending at an odd-sized buffer\'s end sums', (t) => {
  const next = makePrng(0xc0ffee);
  for (const len of [64, 65, 66, 67, 1480, 1481, 1482, 1483]) {
    const data = randomBytes(next, len);
    const expected = naiveSum(data);
    for (let start = 0; start < 4; start++) {
      for (let after = 0; after < 4; after++) {
        // Neighbours all-ones, then all-zero: the sum must not move.
        for (const fill of [0xff, 0x00]) {
          const backing = new Uint8Array(start + len + after).fill(fill);
          backing.set(data, start);
          t.is(cksumAdd(0, backing, start, len), expected, `len ${len} start ${start} after ${after} fill ${fill}`);
        }
      }
    }
  }
});

test('summing many distinct buffers (pooled clusters) agrees with the naive sum for each', (t) => {
  const next = makePrng(4242);
  const clusters = Array.from({ length: 40 }, () => randomBytes(next, 2048));
  for (let round = 0; round < 400; round++) {
    const c = clusters[next() % clusters.length]!;
    const off = next() % 200;
    const len = 64 + (next() % 1700);
    t.is(cksumAdd(0, c, off, len), naiveSum(c.subarray(off, off + len)), `round ${round}`);
  }
});
