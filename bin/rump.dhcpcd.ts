#!/usr/bin/env node
/*
 * rump.dhcpcd: configure a rump kernel's interface by DHCP, after NetBSD's
 * dhcpcd(8). The client runs in the kernel (net/inet/dhcp.ts), as
 * buildrump's rump_pub_netconfig_dhcp_ipv4_oneshot: this tool asks it to
 * start and prints what it got, the way dhcpcd logs it.
 *
 *   rump.dhcpcd virt0         get a lease; the kernel renews it (T1, T2) and releases it at destroy or halt
 *   rump.dhcpcd -1 virt0      oneshot: configure once, nothing left running (dhcpcd -1)
 *   rump.dhcpcd -t 10 virt0   give up after 10 s (dhcpcd -t; default 30)
 *   rump.dhcpcd -k virt0      release the lease (DHCPRELEASE) and remove the address (dhcpcd -k)
 *   rump.dhcpcd -U virt0      print the lease (dhcpcd -U)
 *
 * Bad arguments print the usage and exit 1; no answer in time is
 * `rump.dhcpcd: virt0: Connection timed out`, exit 1.
 */
import type { DhcpLeaseInfo } from '../net/ioctl.js';
import { NetConfig } from '../net/netconfig.js';
import { errText, errx, exit, getopt, guard, parseDecimal, runIfMain, withSys, type ToolIO } from './common.js';

const PROG = 'rump.dhcpcd';
const USAGE = `usage: ${PROG} [-1] [-t timeout] interface\n       ${PROG} -k interface\n       ${PROG} -U interface\n`;

function usage(io: ToolIO): never {
  io.stderr(USAGE);
  exit(1);
}

/** What dhcpcd logs on binding. */
function bound(l: DhcpLeaseInfo): string {
  const lines = [`${l.ifname}: offered ${l.address} from ${l.server}`, `${l.ifname}: leased ${l.address} for ${l.lease === 0xffffffff ? 'infinity' : `${l.lease} seconds`}`];
  if (l.lease !== 0xffffffff) lines.push(`${l.ifname}: renew in ${l.t1} seconds, rebind in ${l.t2} seconds`);
  lines.push(`${l.ifname}: adding address ${l.address}/${l.prefixLen}`);
  if (l.routers.length > 0) lines.push(`${l.ifname}: adding default route via ${l.routers[0]}`);
  if (l.dns.length > 0) lines.push(`${l.ifname}: nameservers ${l.dns.join(' ')}${l.domain !== null ? `, domain ${l.domain}` : ''}`);
  return lines.join('\n') + '\n';
}

/** dhcpcd -U: the lease as shell variables. */
function dump(l: DhcpLeaseInfo): string {
  const v: Array<[string, string | number]> = [
    ['interface', l.ifname], ['state', l.state], ['ip_address', l.address], ['subnet_mask', l.mask], ['subnet_cidr', l.prefixLen],
    ['dhcp_server_identifier', l.server], ['routers', l.routers.join(' ')], ['domain_name_servers', l.dns.join(' ')],
    ['domain_name', l.domain ?? ''], ['dhcp_lease_time', l.lease], ['dhcp_renewal_time', l.t1], ['dhcp_rebinding_time', l.t2],
  ];
  return v.map(([k, x]) => `${k}='${x}'\n`).join('');
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const g = getopt(PROG, io, argv, '1kUt:');
    if (g === null || g.rest.length !== 1) usage(io);
    const ifname = g.rest[0]!;
    let oneshot = false;
    let action = 'start' as 'start' | 'release' | 'dump';
    let timeoutMs: number | undefined;
    for (const [o, a] of g.opts) {
      if (o === '1') oneshot = true;
      else if (o === 'k' || o === 'U') {
        if (action !== 'start') usage(io);
        action = o === 'k' ? 'release' : 'dump';
      } else if (o === 't') {
        const s = parseDecimal(a ?? '');
        if (s === null || s <= 0 || s > 86400) usage(io);
        timeoutMs = s * 1000;
      }
    }
    if (action !== 'start' && (oneshot || timeoutMs !== undefined)) usage(io);
    return withSys(PROG, io, async (sys) => {
      const nc = new NetConfig(sys);
      // Errors name the interface, as dhcpcd logs them.
      const named = <T>(p: Promise<T>): Promise<T> => p.catch((e: unknown) => errx(`${ifname}: ${errText(e)}`));
      if (action === 'release') {
        await named(nc.dhcpRelease(ifname));
        io.stdout(`${ifname}: releasing lease\n`);
        return 0;
      }
      if (action === 'dump') {
        const l = await named(nc.dhcpStatus(ifname));
        if (l === null) {
          io.stderr(`${PROG}: ${ifname}: no lease\n`);
          return 1;
        }
        io.stdout(dump(l));
        return 0;
      }
      const l = await named(nc.dhcpIpv4Oneshot(ifname, { renew: !oneshot, ...(timeoutMs !== undefined ? { timeoutMs } : {}) }));
      io.stdout(bound(l));
      return 0;
    });
  });
}

runIfMain(import.meta.url, PROG, main);
