/*
 * Scenarios for the Node-compatible net face, written once against what
 * node:net and kernel.net share, and run on both: node:net over the
 * host's loopback and kernel.net over a rump kernel give the same events
 * in the same order and the same errors.
 *
 * Each peer gets its own trace, because the order between two peers'
 * events depends on scheduling; within one socket it does not. Every step
 * waits for what it caused, never for time.
 */
import { Buffer } from 'node:buffer';
import { Trace, deferred, once } from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...a: any[]) => void;

export interface SSocket {
  on(event: string, fn: Listener): this;
  once(event: string, fn: Listener): this;
  emit(event: string | symbol, ...args: unknown[]): boolean;
  write(data: string | Uint8Array, cb?: (err?: Error | null) => void): boolean;
  end(data?: string | Uint8Array, cb?: () => void): this;
  destroy(err?: Error): this;
  resetAndDestroy(): this;
  pause(): this;
  resume(): this;
  setNoDelay(on?: boolean): this;
  setKeepAlive(on?: boolean, ms?: number): this;
  setTimeout(ms: number, cb?: () => void): this;
  address(): { address?: string; family?: string; port?: number };
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly remoteFamily?: string;
  readonly localAddress?: string;
  readonly localPort?: number;
  readonly readyState: string;
  readonly bytesRead: number;
  readonly bytesWritten?: number;
  readonly allowHalfOpen: boolean;
  readonly destroyed: boolean;
  readonly writableLength: number;
}

export interface SServer {
  on(event: string, fn: Listener): this;
  once(event: string, fn: Listener): this;
  listen(...args: unknown[]): this;
  close(cb?: (err?: Error) => void): this;
  address(): { address: string; family: string; port: number } | string | null;
  getConnections(cb: (err: Error | null, n: number) => void): this;
  readonly listening: boolean;
  maxConnections?: number | null;
}

export interface NetLike {
  createServer(options?: object | Listener, listener?: Listener): SServer;
  connect(...args: unknown[]): SSocket;
}

const EVENTS = ['connect', 'ready', 'end', 'finish', 'close', 'error', 'timeout', 'drain', 'lookup'];

/** Trace a socket's events (data collapsed to one line per burst: sizes depend on segmentation). */
export function record(t: Trace, name: string, s: SSocket): void {
  let inData = false;
  s.on('data', (d: Buffer) => {
    if (!inData) t.add(`${name} data`);
    inData = true;
    void d;
  });
  for (const ev of EVENTS) {
    s.on(ev, (...a: unknown[]) => {
      inData = false;
      if (ev === 'error') t.error(name, a[0]);
      else if (ev === 'close') t.add(`${name} close hadError=${a[0]}`);
      else t.add(`${name} ${ev}`);
    });
  }
}

/** Collect everything a socket reads. */
function collect(s: SSocket): { text: () => string; bytes: () => number } {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  return { text: () => Buffer.concat(chunks).toString(), bytes: () => chunks.reduce((n, c) => n + c.length, 0) };
}

function listening(srv: SServer, host: string): Promise<number> {
  return new Promise((resolve) => srv.listen(0, host, () => resolve((srv.address() as { port: number }).port)));
}

/** Connect, exchange, the server ends first: end/finish/close ordering on both sides, addresses. */
export async function echo(net: NetLike, host: string): Promise<string[]> {
  const t = new Trace();
  const conn = deferred<SSocket>();
  const srv = net.createServer((s: SSocket) => conn.resolve(s));
  const port = await listening(srv, host);
  t.label(port, 'SRV');
  const a = srv.address() as { address: string; family: string };
  t.add(`listening ${a.address} ${a.family} listening=${srv.listening}`);
  const c = net.connect(port, host);
  record(t, 'c', c);
  t.add(`c readyState ${c.readyState}`);
  await once(c, 'connect');
  t.add(`c local ${c.localAddress} remote ${c.remoteAddress}:${t.port(c.remotePort)} ${c.remoteFamily} ${c.readyState}`);
  const s = await conn.promise;
  const st = new Trace();
  st.label(port, 'SRV');
  record(st, 's', s);
  st.add(`s remote ${s.remoteAddress} local ${s.localAddress}:${st.port(s.localPort)} ${s.readyState}`);
  const fromC = collect(s);
  const fromS = collect(c);
  c.write('hello ');
  c.write(Buffer.from('server'));
  // Wait for all twelve bytes: how they are split into 'data' events is the network's business.
  await new Promise<void>((r) => {
    const check = (): void => {
      if (fromC.bytes() === 12) r();
      else s.once('data', check);
    };
    s.once('data', check);
  });
  s.end('bye');
  const closed = Promise.all([once(c, 'close'), once(s, 'close')]);
  await closed;
  t.add(`c got "${fromS.text()}" bytesRead=${c.bytesRead} bytesWritten=${c.bytesWritten} ${c.readyState}`);
  st.add(`s got "${fromC.text()}" ${s.readyState}`);
  const srvClosed = once(srv, 'close');
  srv.close();
  await srvClosed;
  t.add(`server closed listening=${srv.listening} address=${srv.address()}`);
  return [...t.lines, '--', ...st.lines];
}

/** A port nobody listens on: ECONNREFUSED from connect, then close(true). */
export async function refused(net: NetLike, host: string): Promise<string[]> {
  const t = new Trace();
  const srv = net.createServer();
  const port = await listening(srv, host);
  await new Promise<void>((r) => srv.close(() => r()));
  t.label(port, 'DEAD');
  const c = net.connect({ port, host });
  record(t, 'c', c);
  c.write('never sent', (err) => t.add(`c write cb ${(err as { code?: string } | null | undefined)?.code}`));
  await once(c, 'close');
  t.add(`c destroyed=${c.destroyed} ${c.readyState}`);
  return t.lines;
}

/**
 * 'close' comes on a later turn than 'error' and destroy() (Node runs close
 * callbacks from its loop): code that awaits 'error', or calls destroy(),
 * and then waits for 'close' in its continuation still sees it.
 */
export async function closeAfterAwait(net: NetLike, host: string): Promise<string[]> {
  const t = new Trace();
  const dead = net.createServer();
  const port = await listening(dead, host);
  await new Promise<void>((r) => dead.close(() => r()));
  const c = net.connect({ port, host });
  let closed = false;
  c.on('close', () => (closed = true));
  const err = await once<{ code?: string }>(c, 'error');
  t.add(`c error ${err.code}, close already emitted: ${closed}`);
  if (!closed) await once(c, 'close');
  const srv = net.createServer((s: SSocket) => s.on('error', () => {}));
  const port2 = await listening(srv, host);
  const d = net.connect(port2, host);
  await once(d, 'connect');
  let dClosed = false;
  d.on('close', () => (dClosed = true));
  d.destroy();
  await Promise.resolve();
  await Promise.resolve();
  t.add(`d destroyed, close emitted within its microtasks: ${dClosed}`);
  if (!dClosed) await once(d, 'close');
  await new Promise<void>((r) => srv.close(() => r()));
  t.add('done');
  return t.lines;
}

/** The server resets the connection (SO_LINGER 0): the client's read fails with ECONNRESET. */
export async function reset(net: NetLike, host: string): Promise<string[]> {
  const t = new Trace();
  const conn = deferred<SSocket>();
  const srv = net.createServer((s: SSocket) => conn.resolve(s));
  const port = await listening(srv, host);
  const c = net.connect(port, host);
  record(t, 'c', c);
  await once(c, 'connect');
  const s = await conn.promise;
  const st = new Trace();
  record(st, 's', s);
  c.write('trigger');
  await once(s, 'data');
  s.resetAndDestroy();
  await Promise.all([once(c, 'close'), once(s, 'close')]);
  await new Promise<void>((r) => srv.close(() => r()));
  return [...t.lines, '--', ...st.lines];
}

/** allowHalfOpen: the client ends, the server keeps writing, then ends; both sides close cleanly. */
export async function halfClose(net: NetLike, host: string): Promise<string[]> {
  const t = new Trace();
  const st = new Trace();
  const conn = deferred<SSocket>();
  const srv = net.createServer({ allowHalfOpen: true }, (s: SSocket) => conn.resolve(s));
  const port = await listening(srv, host);
  const c = net.connect(port, host);
  record(t, 'c', c);
  const fromS = collect(c);
  await once(c, 'connect');
  const s = await conn.promise;
  record(st, 's', s);
  st.add(`s allowHalfOpen=${s.allowHalfOpen}`);
  const fromC = collect(s);
  c.end('request');
  await once(s, 'end');
  st.add(`s after end ${s.readyState} got "${fromC.text()}"`);
  s.write('reply after the client finished');
  s.end(' and done');
  await Promise.all([once(c, 'close'), once(s, 'close')]);
  t.add(`c got "${fromS.text()}"`);
  await new Promise<void>((r) => srv.close(() => r()));
  return [...t.lines, '--', ...st.lines];
}

/** The peer ended and we are not half-open: a write now fails with EPIPE (Node's writeAfterFIN). */
export async function writeAfterEnd(net: NetLike, host: string): Promise<string[]> {
  const t = new Trace();
  const st = new Trace();
  const conn = deferred<SSocket>();
  const srv = net.createServer({ allowHalfOpen: true }, (s: SSocket) => conn.resolve(s));
  const port = await listening(srv, host);
  const c = net.connect(port, host);
  record(t, 'c', c);
  c.resume();
  await once(c, 'connect');
  const s = await conn.promise;
  record(st, 's', s);
  s.resume();
  s.end();
  await once(c, 'end');
  c.write('too late', (err) => t.add(`c write cb ${(err as { code?: string } | null | undefined)?.code}`));
  await Promise.all([once(c, 'close'), once(s, 'close')]);
  await new Promise<void>((r) => srv.close(() => r()));
  return [...t.lines, '--', ...st.lines];
}

/** destroy() with a large write still going out: the write is dropped quietly, the peer sees data then EOF. */
export async function destroyDuringWrite(net: NetLike, host: string): Promise<string[]> {
  const t = new Trace();
  const st = new Trace();
  const conn = deferred<SSocket>();
  const srv = net.createServer((s: SSocket) => conn.resolve(s));
  const port = await listening(srv, host);
  const c = net.connect(port, host);
  record(t, 'c', c);
  await once(c, 'connect');
  const s = await conn.promise;
  record(st, 's', s);
  const big = Buffer.alloc(8 * 1024 * 1024, 0x61);
  const more = c.write(big, (err) => t.add(`c write cb ${(err as { code?: string } | null | undefined)?.code ?? err}`));
  c.write('queued behind', (err) => t.add(`c second write cb ${(err as { code?: string } | null | undefined)?.code ?? err}`));
  t.add(`c write returned ${more} writableLength>0=${c.writableLength > 0}`);
  c.destroy();
  t.add(`c destroyed=${c.destroyed}`);
  await Promise.all([once(c, 'close'), once(s, 'close')]);
  await new Promise<void>((r) => srv.close(() => r()));
  return [...t.lines, '--', ...st.lines];
}

/**
 * Backpressure as a writer sees it: write() returns false above the
 * high-water mark, 'drain' follows once the data is taken, every byte
 * arrives. (That a paused reader stalls the writer and closes the TCP
 * window is checked on the simulated clock in net.test.ts.)
 */
export async function backpressure(net: NetLike, host: string): Promise<string[]> {
  const t = new Trace();
  const conn = deferred<SSocket>();
  const srv = net.createServer({ pauseOnConnect: true }, (s: SSocket) => conn.resolve(s));
  const port = await listening(srv, host);
  const c = net.connect(port, host);
  record(t, 'c', c);
  await once(c, 'connect');
  const s = await conn.promise;
  let got = 0;
  s.on('data', (d: Buffer) => (got += d.length));
  // The reader is paused: sooner or later (the host's buffers are larger than a rump kernel's) write() says stop.
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  let written = 0;
  let full = false;
  while (!full && written < 256 * 1024 * 1024) {
    full = !c.write(chunk);
    written += chunk.length;
  }
  t.add(`c write() returned false=${full}`);
  s.resume();
  await once(c, 'drain');
  c.end();
  await once(s, 'end');
  t.add(`s got every byte=${got === written}`);
  await Promise.all([once(c, 'close'), once(s, 'close')]);
  await new Promise<void>((r) => srv.close(() => r()));
  return t.lines;
}

/** Errors and states of a server: EADDRINUSE on listen, listen twice, close a closed server, maxConnections. */
export async function serverErrors(net: NetLike, host: string): Promise<string[]> {
  const t = new Trace();
  const a = net.createServer();
  const port = await listening(a, host);
  t.label(port, 'P');
  const b = net.createServer();
  b.on('error', (e: Error) => t.error('b', e));
  b.listen(port, host);
  await once(b, 'error');
  t.add(`b listening=${b.listening}`);
  try {
    a.listen(0);
    t.add('listen twice: no throw');
  } catch (e) {
    t.error('listen twice', e);
  }
  const got = deferred<number>();
  a.getConnections((err, n) => got.resolve(err ? -1 : n));
  t.add(`connections ${await got.promise}`);
  await new Promise<void>((r) => a.close(() => r()));
  const again = deferred<Error | undefined>();
  a.close((err) => again.resolve(err));
  t.error('close again', await again.promise);
  return t.lines;
}

export const netScenarios = { echo, refused, closeAfterAwait, reset, halfClose, writeAfterEnd, destroyDuringWrite, backpressure, serverErrors };
