#!/usr/bin/env node
/*
 * ifmcstat: NetBSD's ifmcstat(8) against a rump kernel: each interface,
 * its addresses and the link-layer multicast addresses its filter holds,
 * with how many joins hold each.
 *
 *   ifmcstat [-i interface] [-f inet|inet6]
 *
 *   shmif0:
 *   	inet 10.0.0.1
 *   	inet6 fe80::b0a0:ff:fe00:1%shmif0
 *   	mcast-macaddr 33:33:00:00:00:01 refcnt 1
 *
 * NetBSD's tests/net run it (under their hijack) on every rump_server
 * before destroying interfaces; like the rump.* tools it talks to
 * RUMP_SERVER itself. It lists the link layer's groups, not each IP
 * group with its own reference count.
 */
import type { IfInfo } from '../net/ioctl.js';
import { getopt, guard, runIfMain, withInetSocket, withSys, type ToolIO } from './common.js';

const PROG = 'ifmcstat';
const USAGE = `usage: ${PROG} [-i interface] [-f address family]\n`;

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const g = getopt(PROG, io, argv, 'i:f:');
    const fam = g?.opts.find(([c]) => c === 'f')?.[1];
    if (g === null || g.rest.length > 0 || (fam !== undefined && fam !== 'inet' && fam !== 'inet6')) {
      io.stderr(USAGE);
      return 1;
    }
    const only = g.opts.find(([c]) => c === 'i')?.[1];
    return withSys(PROG, io, async (sys) => {
      const ifs = await withInetSocket(sys, async (fd) => (await sys.ioctl(fd, 'SIOCGIFCONF')) as IfInfo[]);
      const mcast = await sys.ext('mcastdump');
      if (only !== undefined && !ifs.some((i) => i.name === only)) {
        io.stderr(`${PROG}: ${only}: no such interface\n`);
        return 1;
      }
      let out = '';
      for (const i of ifs) {
        if (only !== undefined && i.name !== only) continue;
        out += `${i.name}:\n`;
        if (fam !== 'inet6') for (const a of i.inet) out += `\tinet ${a.addr}\n`;
        if (fam !== 'inet') for (const a of i.inet6 ?? []) out += `\tinet6 ${a.addr}${a.scopeId ? `%${i.name}` : ''}\n`;
        for (const m of mcast.find((x) => x.ifname === i.name)?.macs ?? []) out += `\tmcast-macaddr ${m.mac} refcnt ${m.refcount}\n`;
      }
      io.stdout(out);
      return 0;
    });
  });
}

runIfMain(import.meta.url, PROG, main);
