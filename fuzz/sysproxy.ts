/*
 * The sysproxy server's dispatch, end to end: mutated CALL frames over a
 * real unix socket to startRumpServer, the calls run in a real kernel (on
 * the host's clock: the server's sockets are real). The `sysproxy` target
 * beside it covers the decoders alone, fast; this one covers what a client
 * can make the server and the kernel do with calls that decode: every
 * system call with odd arguments, the stream calls, calls that wait and
 * calls on descriptors that close under them.
 *
 *   fuzzer ── unix socket ══ rump_server (this process) ── kernel: net, net_net, net_netinet, net_netinet6
 *
 * The kernel has no shmif or virtif, so no call can reach a file or a host
 * device, and `halt` is never sent (it would end the world, not find a bug).
 * After each batch a `sysctl` on the same connection must be answered (or
 * the server must have closed a connection whose frames were malformed, and
 * a new connection must be served); an exception escaping anywhere in the
 * process is a crash. At the end every client descriptor is closed: only
 * connections still closing may hold a PCB.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rumpInit } from '../index.js';
import { startRumpServer } from '../sysproxy/server.js';
import {
  FRAME_CALL, FRAME_ERROR, FRAME_RESULT, FrameReader, encodeClientHello, encodeFrame,
} from '../sysproxy/protocol.js';
import { decode, encode, type Value } from '../sysproxy/codec.js';
import type { Session, Target } from './target.js';

const PING_BASE = 0xfff00000;
/** A batch whose ping is not answered in this long (real time) is a hang. */
const PING_MS = 10_000;

/* An input is a CALL's payload; feed() frames it (frame-level damage is the `sysproxy` target's). */
function call(method: string, args: unknown[]): Uint8Array {
  return new Uint8Array(encode([method, args] as Value));
}

const sin = (addr: string, port: number) => ({ family: 2, addr, port });
const sin6 = (addr: string, port: number) => ({ family: 24, addr, port });

const data = new Uint8Array(100).fill(0x61);
/** Calls a client makes, on descriptors 3..8 (socket() gives them in order in a fresh connection). */
const CORPUS_CALLS: Array<[string, Value[]]> = [
    ['socket', [2, 1, 0]], ['socket', [2, 2, 0]], ['socket', [24, 1, 0]], ['socket', [24, 2, 0]], ['socket', [2, 3, 1]],
    ['socket', [34, 3, 0]],
    ['bind', [3, sin('127.0.0.1', 7000)]], ['bind', [4, sin('0.0.0.0', 53)]], ['bind', [5, sin6('::', 7000)]],
    ['listen', [3, 5]], ['listen', [5, 128]],
    ['connect', [6, sin('127.0.0.1', 7000)]], ['connect', [4, sin('127.0.0.1', 53)]], ['connect', [6, sin6('::1', 7000)]],
    ['connect', [4, { family: 0 }]],
    ['accept', [3]], ['acceptwait', [3]], ['acceptwait', [5]],
    ['write', [6, data]], ['send', [6, data, 0]], ['sendto', [4, data, 0, sin('127.0.0.1', 53)]], ['sendall', [6, data]],
    ['read', [7, 100]], ['recv', [7, 100, 2]], ['recvfrom', [4, 2000, 0]], ['recvwait', [7, 65536]], ['recvfromwait', [4, 1500]],
    ['setsockopt', [3, 0xffff, 4, 1]], ['setsockopt', [6, 6, 1, 1]], ['setsockopt', [6, 0xffff, 0x80, { l_onoff: 1, l_linger: 0 }]],
    ['setsockopt', [4, 0, 12, new Uint8Array([224, 1, 1, 1, 127, 0, 0, 1])]], ['setsockopt', [5, 41, 27, 0]],
    ['getsockopt', [6, 0xffff, 0x1007]], ['getsockopt', [6, 6, 2]],
    ['getsockname', [3]], ['getpeername', [6]], ['fcntl', [6, 4, 4]], ['fcntl', [6, 3]],
    ['ioctl', [4, 'FIONREAD']], ['ioctl', [4, 'SIOCGIFCONF']], ['ioctl', [4, 'SIOCGIFFLAGS', { name: 'lo0' }]],
    ['poll', [[{ fd: 6, events: 1 }, { fd: 3, events: 5 }], 10]], ['poll', [[{ fd: 7, events: 1 }], -1]],
    ['shutdown', [6, 1]], ['close', [7]], ['close', [3]],
    ['sysctl', ['net.inet.tcp.mssdflt']], ['sysctlSet', ['net.inet.tcp.mssdflt', 536]], ['sysctlList', ['net.inet.ip']],
    ['ext', ['rtdump', {}]], ['ext', ['pcblist']],
];

function corpus(): Uint8Array[] {
  return CORPUS_CALLS.map(([m, a]) => call(m, a));
}

const METHODS = [
  'socket', 'bind', 'listen', 'accept', 'connect', 'shutdown', 'close', 'read', 'write', 'send', 'sendto', 'recv',
  'recvfrom', 'setsockopt', 'getsockopt', 'getsockname', 'getpeername', 'fcntl', 'ioctl', 'poll', 'sysctl', 'sysctlSet',
  'sysctlList', 'ext', 'sendall', 'recvwait', 'acceptwait', 'recvfromwait', 'getrlimit', 'setrlimit',
];
const ODD_VALUES: Value[] = [
  0, -1, 1, 3, 4, 5, 6, 7, 8, 1023, 65535, 65536, 2 ** 31, 2 ** 32, -(2 ** 31), 1e300, -0, Number.NaN, Infinity, 0.5,
  '', 'lo0', '127.0.0.1', '::1', 'fe80::1%lo0', '255.255.255.255', '224.0.0.1', 'a'.repeat(300), '\u0000', '%',
  null, undefined, true, false, new Uint8Array(0), new Uint8Array(70_000), new Uint8Array(8).fill(0xff),
  [], [[]], { family: 2, addr: '127.0.0.1', port: 7000 }, { family: 24, addr: '::', port: 0, scope_id: 99 },
  { family: 2, addr: '1.2.3', port: -1 }, { family: 0 }, { fd: 3, events: 0xffff }, { name: 'lo0', flags: 0 },
];

/*
 * A call built from the bytes of an input: a corpus call, then one to three
 * changes: the method, an argument replaced by an odd value or a small
 * number (a descriptor), an argument dropped or added, a list doubled.
 */
function shape(x: Uint8Array): Value {
  // The input's bytes are mostly zeros (numbers go as float64): a hash of them drives a small
  // generator, so every choice is spread evenly and the same input gives the same call.
  let h = 2166136261;
  for (const b of x) h = Math.imul(h ^ b, 16777619) >>> 0;
  const next = (n: number): number => {
    h ^= h << 13;
    h ^= h >>> 17;
    h ^= h << 5;
    return (h >>> 0) % n;
  };
  const base = CORPUS_CALLS[next(CORPUS_CALLS.length)]!;
  let method = base[0];
  const args: Value[] = [...base[1]];
  for (let i = 1 + next(3); i > 0; i--) {
    const op = next(10);
    if (op === 0) method = METHODS[next(METHODS.length)]!;
    else if (op <= 5 && args.length > 0) args[next(args.length)] = ODD_VALUES[next(ODD_VALUES.length)]!;
    else if (op === 6) args.pop();
    else if (op === 7) args.push(ODD_VALUES[next(ODD_VALUES.length)]!);
    else if (op === 8 && args.length > 0) args[next(args.length)] = next(16);
    else if (args.length > 0 && Array.isArray(args[0])) args[0] = [...(args[0] as Value[]), ...(args[0] as Value[])];
  }
  return [method, args];
}

function onceConnected(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path, () => resolve(s));
    s.once('error', reject);
  });
}

export const sysproxyCallsTarget: Target = {
  name: 'sysproxy-calls',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'rumpfuzz-'));
    const path = join(dir, 'sock');
    const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_netinet6'], env: {} });
    const server = await startRumpServer(k, `unix://${path}`);
    const escaped: unknown[] = [];
    const onEscape = (e: unknown): void => void escaped.push(e);
    process.on('uncaughtException', onEscape);
    process.on('unhandledRejection', onEscape);

    let sock: net.Socket | null = null;
    let closed = true;
    let pings = 0;
    let calls = 0;
    let results = 0;
    let errors = 0;
    let reconnects = 0;
    const codes = new Map<string, number>();
    const answered = new Set<number>();
    let wake: (() => void) | null = null;
    const connect = async (): Promise<void> => {
      const s = await onceConnected(path);
      reconnects++;
      sock = s;
      closed = false;
      const reader = new FrameReader({
        frame(type, id, payload) {
          if (type === FRAME_RESULT) results++;
          if (type === FRAME_ERROR) {
            errors++;
            if (process.env['FUZZ_DEBUG']) {
              const e = decode(payload) as { code?: string; syscall?: string };
              const key = `${e.syscall} ${e.code}`;
              codes.set(key, (codes.get(key) ?? 0) + 1);
            }
          }
          if ((type === FRAME_RESULT || type === FRAME_ERROR) && id >= PING_BASE) {
            answered.add(id);
            wake?.();
          }
        },
      });
      s.on('data', (b: Buffer) => {
        try {
          reader.push(b);
        } catch (e) {
          escaped.push(new Error(`the server sent a malformed frame: ${(e as Error).message}`));
        }
      });
      s.on('error', () => {});
      s.on('close', () => {
        closed = true;
        wake?.();
      });
      s.write(encodeClientHello(1, { comm: 'fuzz' }));
      // Descriptors for the calls to act on: 3 a TCP listener, 4 a bound UDP socket, 5 a TCP6
      // socket, 6 and 7 the two ends of a connection, 8 a UDP6 socket.
      const port = 7000 + (reconnects % 1000);
      const setup: Array<[string, Value[]]> = [
        ['socket', [2, 1, 0]], ['setsockopt', [3, 0xffff, 4, 1]], ['bind', [3, sin('127.0.0.1', port)]], ['listen', [3, 5]],
        ['socket', [2, 2, 0]], ['bind', [4, sin('127.0.0.1', 5300 + (reconnects % 1000))]], ['socket', [24, 1, 0]],
        ['socket', [2, 1, 0]], ['connect', [6, sin('127.0.0.1', port)]], ['accept', [3]], ['socket', [24, 2, 0]],
      ];
      for (const [m, a] of setup) s.write(encodeFrame(FRAME_CALL, ++calls, [m, a]));
    };
    /** A sysctl on the current connection; true once answered, false if the server closed it. */
    const ping = async (): Promise<boolean> => {
      const id = PING_BASE + ++pings;
      sock!.write(encodeFrame(FRAME_CALL, id, ['sysctl', ['kern.ostype']]));
      const deadline = Date.now() + PING_MS;
      while (!answered.has(id) && !closed) {
        if (Date.now() > deadline) throw new Error('the server stopped answering a connection');
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 50);
        });
      }
      return answered.has(id);
    };
    const check = (): void => {
      if (escaped.length) throw escaped[0] instanceof Error ? escaped[0] : new Error(String(escaped[0]));
    };

    return {
      corpus: corpus(),
      maxLen: 512,
      async feed(x) {
        // A payload that decodes to [method, args] goes as it is; any other is turned into a call
        // by shape() (byte mutations mostly break the encoding, and the decoder is the `sysproxy`
        // target's). `halt` ends the kernel by design and is not sent.
        let v: Value;
        try {
          // Byte mutations that still decode mostly change one number; three in four are shaped instead.
          v = (x[x.length - 1] ?? 0) % 4 === 0 ? decode(x) : shape(x);
        } catch {
          v = shape(x);
        }
        if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || !Array.isArray(v[1])) v = shape(x);
        if ((v as Value[])[0] === 'halt') return;
        if (closed) await connect();
        sock!.write(encodeFrame(FRAME_CALL, ++calls, v));
      },
      async batchEnd() {
        check();
        if (closed) await connect();
        if (!(await ping())) {
          // The server closed a connection whose frames broke the protocol: a new one must be served.
          await connect();
          if (!(await ping())) throw new Error('the server closed a fresh connection that had sent only HELLO and a sysctl');
        }
        check();
      },
      async close() {
        const problems: string[] = [];
        if (process.env['FUZZ_DEBUG']) process.stderr.write(`sysproxy-calls: ${calls} calls sent, ${results} results, ${errors} errors, ${pings} pings, ${reconnects} connections; errors: ${[...codes].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([c, n]) => `${c} ${n}`).join(', ')}\n`);
        sock?.destroy();
        const until = Date.now() + PING_MS;
        while (server.clients > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
        if (server.clients > 0) problems.push(`${server.clients} client connections still open after the client went away`);
        await new Promise((r) => setTimeout(r, 50));
        const open = ((await k.sys.ext('pcblist')) as Array<{ proto: string; state?: string }>)
          .filter((p) => !p.proto.startsWith('tcp') || !['TIME_WAIT', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSING', 'LAST_ACK'].includes(p.state ?? ''));
        if (open.length) problems.push(`sockets left after the client's descriptors closed: ${JSON.stringify(open.slice(0, 5))}`);
        await server.close();
        await k.halt();
        process.off('uncaughtException', onEscape);
        process.off('unhandledRejection', onEscape);
        rmSync(dir, { recursive: true, force: true });
        for (const e of escaped) problems.push(`escaped: ${(e as Error).stack ?? String(e)}`);
        return problems;
      },
    } satisfies Session;
  },
};
