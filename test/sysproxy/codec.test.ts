// The sysproxy value codec: what goes in comes out, and a damaged buffer is a
// ProtocolError, never any other exception (the server decodes what any local
// process sends it).
import test from 'ava';

import {
  ProtocolError, MAX_DEPTH, TAG_ARRAY, TAG_BYTES, TAG_OBJECT, TAG_STRING, decode, encode, encodedSize,
} from '../../sysproxy/codec.js';
import { FrameReader, FrameTooLargeError, MAX_FRAME_LENGTH, MAX_PAYLOAD, encodeFrame, encodeFrameHead, FRAME_CALL, FRAME_RESULT, parseServerHello, encodeServerHello } from '../../sysproxy/protocol.js';

const samples: Array<[string, unknown]> = [
  ['null', null],
  ['undefined', undefined],
  ['true', true],
  ['false', false],
  ['zero', 0],
  ['negative zero', -0],
  ['integer', 3],
  ['a u32 flag word', 0xffffffff],
  ['fraction', 1.5],
  ['NaN', NaN],
  ['-Infinity', -Infinity],
  ['max safe integer', Number.MAX_SAFE_INTEGER],
  ['empty string', ''],
  ['ASCII string', 'net.inet.ip.forwarding'],
  ['long ASCII string', 'x'.repeat(1000)],
  ['UTF-8 string', 'rump-ä€😀'],
  ['empty bytes', new Uint8Array(0)],
  ['bytes', Uint8Array.of(0, 1, 2, 255)],
  ['empty array', []],
  ['empty object', {}],
  ['a CALL payload', ['sendto', [3, Uint8Array.of(1, 2, 3), 0, { family: 2, addr: '192.0.2.1', port: 7 }]]],
  ['a recvfrom result', { data: Uint8Array.of(9, 8), from: { family: 2, addr: '127.0.0.1', port: 53 }, flags: 0 }],
  ['a poll set', [{ fd: 3, events: 1, revents: 0 }, { fd: 4, events: 4 }]],
  ['an ioctl argument with undefined', { name: 'shmif0', linkstr: null, alias: undefined }],
  ['nested', { a: [1, [2, [3, { b: 'c' }]]] }],
];

for (const [name, value] of samples) {
  test(`round trip: ${name}`, (t) => {
    const bytes = encode(value);
    t.is(bytes.length, encodedSize(value));
    const back = decode(bytes);
    if (typeof value === 'number' && Object.is(value, -0)) t.true(Object.is(back, -0));
    else t.deepEqual(back, value as never);
  });

  test(`every truncation of ${name} is a ProtocolError`, (t) => {
    const bytes = encode(value);
    for (let len = 0; len < bytes.length; len++) {
      const err = t.throws(() => decode(bytes.subarray(0, len)), undefined, `length ${len}`);
      t.true(err instanceof ProtocolError, `length ${len}: ${err?.name}: ${err?.message}`);
    }
  });
}

test('bytes decode as a plain Uint8Array view, not a Buffer and not a copy', (t) => {
  const frame = encode({ data: Uint8Array.of(1, 2, 3) });
  const v = decode(frame) as { data: Uint8Array };
  t.is(Object.getPrototypeOf(v.data), Uint8Array.prototype);
  t.is(v.data.buffer, frame.buffer);
});

test('a Buffer encodes as bytes', (t) => {
  t.deepEqual(decode(encode(Buffer.from('hi'))), Uint8Array.of(0x68, 0x69));
});

test('trailing bytes after the value are refused', (t) => {
  const bytes = Buffer.concat([encode(7), Buffer.of(0)]);
  t.throws(() => decode(bytes), { instanceOf: ProtocolError, message: /after the value/ });
});

test('an unknown tag is refused', (t) => {
  t.throws(() => decode(Uint8Array.of(0x7f)), { instanceOf: ProtocolError, message: /unknown tag 0x7f/ });
});

test('a count larger than the bytes left is refused before anything is allocated', (t) => {
  const huge = Buffer.alloc(5);
  huge[0] = TAG_ARRAY;
  huge.writeUInt32LE(0xffffffff, 1);
  t.throws(() => decode(huge), { instanceOf: ProtocolError, message: /longer than/ });
  huge[0] = TAG_OBJECT;
  t.throws(() => decode(huge), { instanceOf: ProtocolError, message: /longer than/ });
  huge[0] = TAG_BYTES;
  t.throws(() => decode(huge), { instanceOf: ProtocolError, message: /truncated/ });
  huge[0] = TAG_STRING;
  t.throws(() => decode(huge), { instanceOf: ProtocolError, message: /truncated/ });
});

test('invalid UTF-8 is refused, short and long', (t) => {
  for (const body of [Uint8Array.of(0xc3), Uint8Array.of(0x41, 0xff, 0x41), new Uint8Array(40).fill(0xff)]) {
    const b = Buffer.alloc(5 + body.length);
    b[0] = TAG_STRING;
    b.writeUInt32LE(body.length, 1);
    b.set(body, 5);
    t.throws(() => decode(b), { instanceOf: ProtocolError, message: /UTF-8/ });
  }
});

test('nesting deeper than the limit is refused both ways', (t) => {
  let deep: unknown = 1;
  for (let i = 0; i < MAX_DEPTH; i++) deep = [deep];
  t.notThrows(() => decode(encode(deep)));
  deep = [deep];
  t.throws(() => encode(deep), { instanceOf: ProtocolError, message: /deeper/ });
  // And a hand-made one that the encoder would not write.
  const bytes = Buffer.alloc(5 * (MAX_DEPTH + 1) + 1);
  for (let i = 0; i <= MAX_DEPTH; i++) {
    bytes[i * 5] = TAG_ARRAY;
    bytes.writeUInt32LE(1, i * 5 + 1);
  }
  t.throws(() => decode(bytes), { instanceOf: ProtocolError, message: /deeper/ });
});

test('a cycle is refused, not an endless loop', (t) => {
  const a: unknown[] = [];
  a.push(a);
  t.throws(() => encode(a), { instanceOf: ProtocolError });
});

test('values the codec cannot carry are refused by name', (t) => {
  t.throws(() => encode({ f: () => 1 }), { instanceOf: ProtocolError, message: /value\.f: a function/ });
  t.throws(() => encode(10n), { instanceOf: ProtocolError, message: /bigint/ });
  t.throws(() => encode(new Map()), { instanceOf: ProtocolError, message: /Map/ });
  t.throws(() => encode(new Uint16Array(2)), { instanceOf: ProtocolError, message: /Uint16Array/ });
});

test('a key "__proto__" from the wire is an own property, not a prototype', (t) => {
  const key = Buffer.from('__proto__');
  const b = Buffer.alloc(5 + 4 + key.length + 9);
  b[0] = TAG_OBJECT;
  b.writeUInt32LE(1, 1);
  b.writeUInt32LE(key.length, 5);
  key.copy(b, 9);
  b[9 + key.length] = 0x04;
  b.writeDoubleLE(42, 10 + key.length);
  const v = decode(b) as Record<string, unknown>;
  t.is(Object.getPrototypeOf(v), Object.prototype);
  t.deepEqual(Object.keys(v), ['__proto__']);
  t.is(Object.getOwnPropertyDescriptor(v, '__proto__')?.value, 42);
});

test('random damage to an encoded value is a ProtocolError or a value, never another exception', (t) => {
  const base = encode(samples.map(([, v]) => v));
  // A fixed linear congruential sequence: the same damage every run.
  let seed = 12345;
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let round = 0; round < 2000; round++) {
    const b = Buffer.from(base);
    for (let k = 0; k < 3; k++) b[next() % b.length] = next() & 0xff;
    try {
      decode(b);
    } catch (e) {
      if (!(e instanceof ProtocolError)) t.fail(`round ${round}: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  t.pass();
});

test('frames reassemble from reads of any size, one byte at a time included', (t) => {
  const frames = [encodeFrame(FRAME_CALL, 1, ['sysctl', ['hw.ncpu']]), encodeFrame(FRAME_CALL, 2, ['x', [new Uint8Array(3000)]])];
  const stream = Buffer.concat(frames);
  for (const step of [1, 2, 3, 4, 5, 7, 9, 100, stream.length]) {
    const got: Array<[number, number, unknown]> = [];
    const r = new FrameReader({ frame: (type, id, payload) => got.push([type, id, decode(payload)]) });
    for (let off = 0; off < stream.length; off += step) r.push(stream.subarray(off, off + step));
    t.deepEqual(got, [
      [FRAME_CALL, 1, ['sysctl', ['hw.ncpu']]],
      [FRAME_CALL, 2, ['x', [new Uint8Array(3000)]]],
    ], `reads of ${step} bytes`);
    t.is(r.buffered, 0);
  }
});

test('a frame split across large reads is offered as views of those reads, not a copy; declined, it is joined', (t) => {
  const data = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) & 0xff);
  const stream = Buffer.concat([encodeFrame(FRAME_RESULT, 9, data), encodeFrame(FRAME_RESULT, 10, 5)]);
  const reads: Buffer[] = [];
  for (let off = 0; off < stream.length; off += 65536) reads.push(Buffer.from(stream.subarray(off, off + 65536)));
  for (const take of [true, false]) {
    const offered: Uint8Array[][] = [];
    const frames: Array<[number, unknown]> = [];
    const r = new FrameReader({
      frame: (_type, id, payload) => frames.push([id, decode(payload)]),
      framePieces: (type, id, pieces, length) => {
        t.is(type, FRAME_RESULT);
        t.is(id, 9);
        t.is(length, 5 + data.length);
        offered.push(pieces.slice());
        return take;
      },
    });
    for (const c of reads) r.push(c);
    t.is(offered.length, 1);
    const pieces = offered[0]!;
    t.true(pieces.length > 1);
    // Each piece lies in the read it came in: nothing was copied.
    for (const p of pieces) t.true(reads.some((c) => c.buffer === p.buffer), 'a piece is a view of a read');
    const joined = Buffer.concat(pieces);
    t.deepEqual(decode(joined), data);
    t.deepEqual(frames, take ? [[10, 5]] : [[9, data], [10, 5]]);
    t.is(r.buffered, 0);
  }
});

test('a frame trickled in small reads is collected into one buffer, not kept as a view per read', (t) => {
  const data = new Uint8Array(100_000).fill(3);
  const stream = encodeFrame(FRAME_RESULT, 1, data);
  let offered = 0;
  const got: unknown[] = [];
  const r = new FrameReader({
    frame: (_type, _id, payload) => got.push(decode(payload)),
    framePieces: () => {
      offered++;
      return true;
    },
  });
  for (let off = 0; off < stream.length; off += 100) {
    r.push(stream.subarray(off, off + 100));
    const pieces = (r as unknown as { pieces: Uint8Array[] | null }).pieces;
    t.true(pieces === null || pieces.length <= 2, `views kept: ${pieces?.length}`);
  }
  t.is(offered, 0);
  t.deepEqual(got, [data]);
});

test('a frame length over the limit or under the header is refused before any allocation', (t) => {
  const r = new FrameReader({ frame: () => t.fail('no frame expected') });
  const big = Buffer.alloc(4);
  big.writeUInt32LE(MAX_FRAME_LENGTH + 1);
  t.throws(() => r.push(big), { instanceOf: ProtocolError, message: /exceeds/ });
  const r2 = new FrameReader({ frame: () => t.fail('no frame expected') });
  t.throws(() => r2.push(Uint8Array.of(4, 0, 0, 0, 1, 0, 0, 0)), { instanceOf: ProtocolError, message: /shorter/ });
});

test('the server banner round-trips through HELLO', (t) => {
  const banner = { version: 'rumpnet 0.1.0', ostype: 'NetBSD', hostname: 'rump-1.h', pid: 1 };
  const frame = encodeServerHello(banner);
  t.deepEqual(parseServerHello(frame.subarray(9)), { version: 1, banner });
  for (let len = 9; len < frame.length; len++) {
    t.throws(() => parseServerHello(frame.subarray(9, len)), { instanceOf: ProtocolError });
  }
});

test('a frame head with its bytes written after it is byte for byte the frame encodeFrame makes', (t) => {
  const data = Uint8Array.from({ length: 70000 }, (_, i) => (i * 31) & 0xff);
  for (const build of [(b: Uint8Array) => b, (b: Uint8Array) => ['sendall', [7, b]]]) {
    const head = encodeFrameHead(FRAME_CALL, 42, build, data);
    const whole = encodeFrame(FRAME_CALL, 42, build(data));
    t.deepEqual(Buffer.concat([head, data]), whole);
    t.true(head.length < 64);
  }
  t.throws(() => encodeFrameHead(FRAME_CALL, 1, (b) => b, new Uint8Array(MAX_PAYLOAD)), { instanceOf: FrameTooLargeError });
});
