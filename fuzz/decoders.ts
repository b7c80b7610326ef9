/*
 * Targets that decode bytes a peer or a user controls without a network in
 * between: the sysproxy server's frame reader and message decoder, and the
 * packetdrill script parser. Each may refuse its input only with its own
 * error class (ProtocolError, ScriptSyntaxError); any other exception is a
 * crash (for rump_server, an "internal error" that drops the client).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ScriptSyntaxError, parseScript } from '../packetdrill/parser.js';
import { ProtocolError, decode, encode } from '../sysproxy/codec.js';
import {
  FRAME_CALL, FRAME_CLOSE, FRAME_HELLO, FrameReader, encodeClientHello, encodeFrame, parseClientHello,
} from '../sysproxy/protocol.js';
import type { Session, Target } from './target.js';

/** Run `fn`; an exception of the accepted class is a refusal, anything else escapes. */
function refusing(cls: new (...a: never[]) => Error, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof cls)) throw e;
  }
}

function decoderSession(corpus: Uint8Array[], maxLen: number, feed: (x: Uint8Array) => void): Session {
  return {
    corpus,
    maxLen,
    feed,
    batchEnd: async () => {},
    close: async () => [],
  };
}

/**
 * The sysproxy server's input path, as server.ts's Connection runs it: the
 * byte stream through a FrameReader (in the chunks the input is cut into),
 * HELLO payloads through parseClientHello, CALL payloads through decode and
 * the shape check. A fresh reader per input: one input is one connection.
 */
export const sysproxyTarget: Target = {
  name: 'sysproxy',
  async open() {
    const stream = (...frames: Buffer[]): Uint8Array => new Uint8Array(Buffer.concat(frames));
    const corpus = [
      stream(encodeClientHello()),
      stream(encodeClientHello(1, { comm: 'fuzz' })),
      stream(encodeClientHello(), encodeFrame(FRAME_CALL, 1, ['socket', [2, 1, 0]])),
      stream(encodeClientHello(), encodeFrame(FRAME_CALL, 7, ['sendto', [3, new Uint8Array(64), 0, { family: 2, addr: '10.0.0.1', port: 9 }]])),
      stream(encodeClientHello(), encodeFrame(FRAME_CALL, 9, ['sysctlSet', ['net.inet.tcp.mssdflt', 536]]), encodeFrame(FRAME_CLOSE, 0, null)),
      new Uint8Array(encode({ a: [1, 2.5, 'x', true, false, null, undefined, new Uint8Array(3)], b: { c: { d: [] } } })),
    ];
    const sink = {
      hello: true,
      frame(type: number, id: number, payload: Uint8Array) {
        if (this.hello) {
          this.hello = false;
          if (type === FRAME_HELLO) parseClientHello(payload);
          return;
        }
        if (type !== FRAME_CALL) return;
        const v = decode(payload);
        // The server's shape check reads these; they must be safe on any value.
        if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Array.isArray(v[1]) && id !== 0) void v[1].length;
      },
    };
    return decoderSession(corpus, 4096, (x) => {
      // A bare value goes straight to decode (the codec on its own).
      refusing(ProtocolError, () => void decode(x));
      sink.hello = true;
      const r = new FrameReader(sink);
      const cut = x.length > 0 ? 1 + (x[x.length - 1]! % Math.max(1, x.length)) : 1;
      refusing(ProtocolError, () => {
        for (let at = 0; at < x.length; at += cut) r.push(x.subarray(at, at + cut));
      });
    });
  },
};

function pktFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) pktFiles(p, out);
    else if (p.endsWith('.pkt')) out.push(p);
  }
  return out;
}

/** The packetdrill parser over mutated scripts of the FreeBSD suite in test/fixtures. */
export const packetdrillTarget: Target = {
  name: 'packetdrill-parser',
  async open() {
    const files = pktFiles(join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures')).sort().slice(0, 40);
    const corpus = files.map((f) => new Uint8Array(readFileSync(f)));
    const dec = new TextDecoder();
    return decoderSession(corpus, 16384, (x) => {
      refusing(ScriptSyntaxError, () => void parseScript(dec.decode(x), 'fuzz.pkt'));
    });
  },
};
