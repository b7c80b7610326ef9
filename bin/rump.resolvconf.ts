#!/usr/bin/env node
/*
 * rump.resolvconf: a rump kernel's resolver configuration, after NetBSD's
 * resolvconf(8) (openresolv), which manages /etc/resolv.conf. A rump
 * kernel has no file system here: its resolv.conf and hosts table are the
 * net.resolv.* sysctls (net/resolv.ts), which this tool reads and writes.
 *
 *   rump.resolvconf -l            print the kernel's resolv.conf
 *   rump.resolvconf -a [file]     replace it with resolv.conf(5) text (file, or stdin without one or with -)
 *   rump.resolvconf -d            delete it: no name servers, no search list, default options
 *   rump.resolvconf -H -l         print the kernel's hosts table (hosts(5))
 *   rump.resolvconf -H -a [file]  replace the hosts table
 *   rump.resolvconf -H -d         empty the hosts table
 *
 * A bad line is `rump.resolvconf: resolv.conf line 2: bad nameserver "x"`, exit 1.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_RESOLV, ResolverConfig, formatHosts, formatResolvConf, parseHosts, parseResolvConf } from '../net/resolv.js';
import { errx, exit, getopt, guard, runIfMain, withSys, type ToolIO } from './common.js';

const PROG = 'rump.resolvconf';
const USAGE =
  `usage: ${PROG} [-H] -l\n` +
  `       ${PROG} [-H] -a [file]\n` +
  `       ${PROG} [-H] -d\n`;

function usage(io: ToolIO): never {
  io.stderr(USAGE);
  exit(1);
}

/** `file`, or stdin for none or `-`. */
function readInput(file: string | undefined): string {
  try {
    return readFileSync(file === undefined || file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    errx(`${file ?? 'stdin'}: ${(e as Error).message}`);
  }
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const g = getopt(PROG, io, argv, 'Hlad');
    if (g === null) usage(io);
    const flags = new Set(g.opts.map(([o]) => o));
    const hosts = flags.has('H');
    const actions = ['l', 'a', 'd'].filter((a) => flags.has(a));
    if (actions.length !== 1) usage(io);
    const action = actions[0]!;
    if (g.rest.length > (action === 'a' ? 1 : 0)) usage(io);
    // Parse before connecting, so a bad file changes nothing.
    let text = '';
    if (action === 'a') text = readInput(g.rest[0]);
    let parsed: ReturnType<typeof parseResolvConf> | ReturnType<typeof parseHosts> | null = null;
    if (action === 'a') {
      try {
        parsed = hosts ? parseHosts(text) : parseResolvConf(text);
      } catch (e) {
        errx((e as Error).message);
      }
    }
    return withSys(PROG, io, async (sys) => {
      const conf = new ResolverConfig(sys);
      if (action === 'l') {
        const c = await conf.get();
        io.stdout(hosts ? formatHosts(c.hosts) : formatResolvConf(c));
      } else if (action === 'd') {
        await conf.set(hosts ? { hosts: [] } : { nameservers: [], search: [], ...DEFAULT_RESOLV });
      } else if (hosts) {
        await conf.set({ hosts: parsed as ReturnType<typeof parseHosts> });
      } else {
        const { hosts: _h, ...rest } = parsed as ReturnType<typeof parseResolvConf>;
        await conf.set(rest);
      }
      return 0;
    });
  });
}

runIfMain(import.meta.url, PROG, main);
