/*
 * RUMP_SERVER addresses (rump_sp(7)): where a rump_server listens and where
 * its clients connect.
 *
 *   unix://PATH        a unix-domain socket; PATH relative to the current directory
 *   unix:///abs/path   the same with an absolute path
 *   tcp://127.0.0.1:N  TCP on an IPv4 loopback address (any of 127.0.0.0/8)
 *   tcp://localhost:N  the same as tcp://127.0.0.1:N
 *
 * A rump server gives whoever connects full control of its kernel (every
 * system call, halt included) with no authentication, which is what NetBSD's
 * sysproxy does too. A unix socket is protected by its file mode (0600); a TCP
 * port is protected by nothing, so we refuse to listen on or connect to
 * anything but loopback instead of offering the kernel to the network.
 */
import { resolve } from 'node:path';

export type RumpUrl =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number };

/** Linux's sun_path holds 108 bytes, one of them the terminating NUL. */
export const UNIX_PATH_MAX = 107;

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const PORT = /^\d{1,5}$/;

function refuse(url: string, why: string): Error {
  return new Error(`bad rump server URL "${url}": ${why}`);
}

/** True for a dotted-quad literal in 127.0.0.0/8 (RFC 1122 section 3.2.1.3 (g)). */
function isLoopbackLiteral(host: string): boolean {
  const m = DOTTED_QUAD.exec(host);
  if (m === null) return false;
  for (let i = 1; i <= 4; i++) {
    if (Number(m[i]) > 255) return false;
  }
  return Number(m[1]) === 127;
}

/**
 * Parse a RUMP_SERVER URL. A unix path comes back absolute (resolved against
 * `cwd`, the current directory by default) so that a server that was started
 * in one directory can still remove its socket from another, and a client
 * that changes directory still finds it. Throws an Error saying what is wrong.
 */
export function parseRumpUrl(url: string, cwd: string = process.cwd()): RumpUrl {
  if (typeof url !== 'string' || url.length === 0) throw refuse(String(url), 'empty');
  const sep = url.indexOf('://');
  if (sep < 0) throw refuse(url, 'expected unix://PATH or tcp://127.0.0.1:PORT');
  const scheme = url.slice(0, sep);
  const rest = url.slice(sep + 3);

  if (scheme === 'unix') {
    if (rest.length === 0) throw refuse(url, 'no socket path');
    if (rest.includes('\0')) throw refuse(url, 'NUL in socket path');
    const path = resolve(cwd, rest);
    if (Buffer.byteLength(path) > UNIX_PATH_MAX) {
      throw refuse(url, `socket path ${path} is longer than ${UNIX_PATH_MAX} bytes`);
    }
    return { kind: 'unix', path };
  }

  if (scheme === 'tcp') {
    const hostPort = rest.endsWith('/') ? rest.slice(0, -1) : rest;
    const colon = hostPort.lastIndexOf(':');
    if (colon < 0) throw refuse(url, 'no port (expected tcp://127.0.0.1:PORT)');
    const host = hostPort.slice(0, colon);
    const portText = hostPort.slice(colon + 1);
    if (!PORT.test(portText) || Number(portText) > 65535) {
      throw refuse(url, `bad port "${portText}" (expected 0-65535)`);
    }
    if (host === 'localhost') return { kind: 'tcp', host: '127.0.0.1', port: Number(portText) };
    if (!isLoopbackLiteral(host)) {
      throw refuse(
        url,
        `host "${host}" is not an IPv4 loopback address: anyone who can reach a rump server ` +
          'controls its kernel, so only 127.0.0.0/8 and localhost are allowed',
      );
    }
    return { kind: 'tcp', host, port: Number(portText) };
  }

  throw refuse(url, `unknown scheme "${scheme}" (expected unix or tcp)`);
}

/** The URL of a parsed address (absolute unix path, `tcp://host:port`). */
export function formatRumpUrl(u: RumpUrl): string {
  return u.kind === 'unix' ? `unix://${u.path}` : `tcp://${u.host}:${u.port}`;
}
