/*
 * NetBSD's own tests/net ATF scripts, unedited, through the corpus's `run`
 * (../shared/conformance/netbsd-tests-net/run: atf-sh and kyua against
 * this checkout's dist/bin tools). Each test names the cases that pass
 * today and fails when one of them stops passing.
 *
 * Most scripts end a case with NetBSD's rump_server_destroy_ifaces, which
 * runs `$HIJACKING ifmcstat`, and t_mtudisc runs `$HIJACKING nc`: host
 * programs under librumphijack. `run` takes the LD_PRELOAD library from
 * RUMPNET_HIJACK_LIB; it is ours (librumphijack.so, built with the addon)
 * unless the environment names another. Where it is not built (not Linux),
 * only the cases listed under `always`, which never get there, are checked.
 *
 * if_bridge/t_bridge runs /sbin/brconfig under /usr/lib/librumphijack.so,
 * and net/t_forwarding /usr/libexec/httpd (ours: test/conformance/httpd.py)
 * and `ftp` (tnftp) under it, NetBSD's absolute paths:
 * test/conformance/netbsd-paths.sh provides them in a private mount
 * namespace (root only).
 *
 * Skips, saying why, when the corpus, kyua/atf-sh or dist/ is missing.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hijackLibraryPath } from '../../hypercall/node.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const runScript = [process.env['NETBSD_TESTS_NET'], join(root, '../shared/conformance/netbsd-tests-net'), join(root, '../../shared/conformance/netbsd-tests-net')]
  .filter((d): d is string => d !== undefined)
  .map((d) => join(d, 'run'))
  .find((p) => existsSync(p));
const hijack = process.env['RUMPNET_HIJACK_LIB'] ?? hijackLibraryPath() ?? '';
const isRoot = process.getuid?.() === 0;

function unavailable(): string | null {
  if (runScript === undefined) return 'the corpus ../shared/conformance/netbsd-tests-net is not here (set NETBSD_TESTS_NET)';
  for (const tool of ['kyua', 'atf-sh']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (apt-get install atf-sh kyua; .ci/run does)`;
  }
  if (!existsSync(join(root, 'dist/bin/rump_server.js'))) return 'dist/ is not built (npm run build)';
  return null;
}

/** Run one script through `run`; each case's verdict by name. */
async function runScriptCases(script: string, viaPaths: boolean): Promise<Map<string, string>> {
  const argv = viaPaths ? [join(root, 'test/conformance/netbsd-paths.sh'), runScript!, script] : [runScript!, script];
  const env = { ...process.env, KEEP: '', RUMPNET_HIJACK_LIB: hijack };
  const child = spawn(argv[0]!, argv.slice(1), { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await once(child, 'close');
  const verdicts = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^[^ :]+:(\S+)\s+->\s+(\w+)/.exec(line);
    if (m) verdicts.set(m[1]!, m[2]!);
  }
  return verdicts;
}

const SCRIPTS: ReadonlyArray<{ script: string; always: string[]; withHijack: string[]; paths?: boolean }> = [
  {
    script: 'route/t_change',
    always: ['route_change_reject2blackhole', 'route_change_gateway', 'route_change_ifa', 'route_change_ifp', 'route_change_ifp_ifa',
      'route_change_flags', 'route_change_default_flags'],
    withHijack: [],
  },
  {
    script: 'net/t_ipaddress',
    always: [],
    withHijack: ['ipaddr_same_address', 'ipaddr_same_address6', 'ipaddr_auto_linklocal', 'ipaddr_alias_address'],
  },
  {
    script: 'icmp/t_ping2',
    always: ['basic'],
    withHijack: [],
  },
  {
    script: 'if/t_ifconfig',
    always: ['ifconfig_create_destroy', 'ifconfig_options', 'ifconfig_parameters'],
    withHijack: ['ifconfig_up_down_ipv4', 'ifconfig_up_down_ipv6', 'ifconfig_number'],
  },
  {
    script: 'net/t_forwarding',
    always: [],
    // ipforwarding_misc waits out a TCP connect (75 s) whose SYN dies of TTL 1, as on NetBSD.
    withHijack: ['ipforwarding_v4', 'ipforwarding_v6', 'ipforwarding_fastforward_v4', 'ipforwarding_fastforward_v6',
      'ipforwarding_fragment_v4', 'ipforwarding_misc'],
    paths: true,
  },
  {
    script: 'arp/t_arp',
    always: [],
    withHijack: ['arp_cache_expiration_5s', 'arp_cache_expiration_10s', 'arp_cache_overwriting', 'arp_command', 'arp_garp',
      'arp_garp_without_dad', 'arp_purge_on_ifdown', 'arp_purge_on_route_change', 'arp_static', 'arp_stray_entries',
      'arp_purge_on_route_delete', 'arp_link_activation', 'arp_proxy_arp_pub', 'arp_proxy_arp_pubproxy',
      // arp_rtm starts `rump.route monitor` in the background and sleeps 1 s before pinging: the tool
      // must have its routing socket open by then (it is, on a quiet machine, in about 0.5 s).
      'arp_rtm'],
  },
  {
    script: 'if_bridge/t_bridge',
    always: [],
    withHijack: ['bridge_create_destroy', 'bridge_ipv4', 'bridge_ipv6', 'bridge_member_ipv4', 'bridge_member_ipv6'],
    paths: true,
  },
  {
    script: 'net/t_mtudisc',
    always: [],
    // mtudisc_basic preloads /usr/lib/librumphijack.so by that path for its `nc` (netbsd-paths.sh
    // provides it); run without it, it failed, which an earlier note took for a failure under load.
    withHijack: ['mtudisc_basic', 'mtudisc_timeout'],
    paths: true,
  },
  {
    script: 'ndp/t_ndp',
    always: [],
    withHijack: ['ndp_cache_expiration', 'ndp_commands', 'ndp_cache_overwriting', 'ndp_neighborgcthresh', 'ndp_purge_on_route_change',
      'ndp_purge_on_route_delete', 'ndp_purge_on_ifdown', 'ndp_stray_entries', 'ndp_link_activation', 'ndp_rtm'],
  },
  {
    script: 'route/t_route',
    always: [],
    withHijack: ['route_non_subnet_gateway', 'route_command_get', 'route_command_get6', 'route_default_reject', 'route_command_add',
      'route_command_add6'],
  },
];

const why = unavailable();
if (why !== null) console.log(`NetBSD tests/net: skipped: ${why}`);

for (const { script, always, withHijack, paths } of SCRIPTS) {
  const want = hijack ? [...always, ...withHijack] : always;
  let skipWhy = why;
  if (skipWhy === null && want.length === 0) skipWhy = 'its passing cases reach $HIJACKING and no hijack library is built here';
  if (skipWhy === null && paths === true && !isRoot) skipWhy = "NetBSD's absolute paths need a mount namespace (root)";
  if (skipWhy !== null && skipWhy !== why) console.log(`NetBSD tests/net ${script}: skipped: ${skipWhy}`);
  (skipWhy !== null ? test.skip : test.serial)(`NetBSD tests/net ${script}: ${want.length} cases pass unedited`, async (t) => {
    t.timeout(900_000, 'kyua runs the cases one by one, each booting its own rump_servers');
    const verdicts = await runScriptCases(script, paths === true);
    for (const c of want) t.is(verdicts.get(c), 'passed', `${script}:${c}`);
  });
}
