/*
 * The tools' argument parsers: rump.ifconfig, route, arp, ndp, netstat,
 * sockstat and sysctl run (their `main`, as the command line does) against
 * a live dual-stack kernel on the simulated clock, with argument vectors
 * mutated from valid command lines. An input is the tool name and its
 * arguments separated by NUL bytes; a mangled name still picks a tool.
 *
 * A tool turns every exception into `prog: message` and status 1 (guard in
 * bin/common.ts), so an escaped exception shows as a message only a bug
 * produces (a TypeError's "Cannot read properties of undefined", "NaN",
 * "undefined"): those are the crashes here. A tool that never returns is
 * one too.
 */
import '../net/components.js';
import { main as arp } from '../bin/rump.arp.js';
import { main as ifconfig } from '../bin/rump.ifconfig.js';
import { main as ndp } from '../bin/rump.ndp.js';
import { main as ping } from '../bin/rump.ping.js';
import { main as ping6 } from '../bin/rump.ping6.js';
import { main as traceroute } from '../bin/rump.traceroute.js';
import { main as netstat } from '../bin/rump.netstat.js';
import { main as route } from '../bin/rump.route.js';
import { main as sockstat } from '../bin/rump.sockstat.js';
import { main as sysctl } from '../bin/rump.sysctl.js';
import type { SysLike, ToolIO, ToolMain } from '../bin/common.js';
import type { Kernel } from '../kern/kernel.js';
import { Hub, attachEther } from '../test/helpers/hub.js';
import { ifconfig as ifconfig4, quiesce } from '../test/helpers/kernels.js';
import { bootKernels6, ifconfig6 } from '../test/inet6/helpers.js';
import type { Target } from './target.js';

const TOOLS: [string, ToolMain][] = [
  ['ifconfig', ifconfig], ['route', route], ['arp', arp], ['ndp', ndp],
  ['netstat', netstat], ['sockstat', sockstat], ['sysctl', sysctl],
  ['ping', ping], ['ping6', ping6], ['traceroute', traceroute],
];

const LINES = [
  'ifconfig -a', 'ifconfig hub0', 'ifconfig hub0 inet 10.0.0.5 netmask 255.255.255.0 alias', 'ifconfig hub0 inet6 fd00::5 prefixlen 64',
  'ifconfig hub0 mtu 1400', 'ifconfig hub0 -alias 10.0.0.5', 'ifconfig hub0 down', 'ifconfig -l',
  'route -n show', 'route add -net 10.1.0.0/16 10.0.0.1', 'route add -inet6 fd01:: -prefixlen 64 fd00::1', 'route get 10.1.2.3',
  'route delete -net 10.1.0.0/16', 'route -n flush', 'route add -host 10.9.9.9 -reject 127.0.0.1',
  'arp -an', 'arp -s 10.0.0.7 02:00:00:00:00:07', 'arp -d 10.0.0.7', 'arp 10.0.0.1',
  'ndp -an', 'ndp -s fd00::7 02:00:00:00:00:07', 'ndp -d fd00::7', 'ndp -p',
  'netstat -rn', 'netstat -s', 'netstat -an', 'netstat -i', 'netstat -s -p tcp', 'netstat -f inet6 -rn',
  'sockstat', 'sockstat -4 -l', 'sockstat -6 -c',
  'sysctl -a', 'sysctl net.inet.tcp.mssdflt', 'sysctl -w net.inet.ip.ttl=32', 'sysctl -n kern.hostname', 'sysctl -w net.inet.tcp.sendspace=65536',
  'ping -c 2 10.0.0.2', 'ping -c 3 -i 0.2 -s 100 -t 2 10.0.0.1', 'ping -n -c 1 -w 1 127.0.0.1', 'ping -c 1 -R -g 10.0.0.1 10.0.0.2',
  'ping6 -c 2 fd00::2', 'ping6 -n -c 1 -s 64 ::1', 'ping6 -c 1 -h 3 fe80::1%hub0',
  'traceroute -n -q 1 -m 3 10.0.0.1', 'traceroute -n -w 1 -p 33500 127.0.0.1',
];

const SUSPECT = /Cannot read prop|Cannot set prop|is not a function|is not iterable|is not defined|Maximum call stack|Invalid array length|Invalid string length|\bundefined\b|\bNaN\b/;

export const toolsTarget: Target = {
  name: 'tools-argv',
  async open(seed) {
    const ks = bootKernels6(1, seed);
    const k = ks.kernels[0] as Kernel;
    const hub = new Hub('lan');
    attachEther(k, hub);
    ifconfig4(k, 'hub0', '10.0.0.2/24');
    ifconfig6(k, 'hub0', 'fd00::2/64');
    await ks.sim.run(5_000);
    const enc = new TextEncoder();
    const corpus = LINES.map((l) => enc.encode(l.split(' ').join('\0')));
    const problems: string[] = [];
    let out = '';
    let err = '';
    const clock = { now: () => ks.sim.now(), sleep: (ms: number) => new Promise<void>((r) => ks.sim.armTimer(ks.sim.now() + ms, r)) };
    const io: ToolIO = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), sys: k.sys as unknown as SysLike, clock };
    return {
      corpus,
      kernel: k,
      maxLen: 256,
      async feed(x) {
        const words = Buffer.from(x).toString('latin1').split('\0');
        const name = words[0] ?? '';
        const tool = TOOLS.find(([n]) => n === name) ?? TOOLS[(name.charCodeAt(0) || 0) % TOOLS.length]!;
        out = '';
        err = '';
        let status: number | undefined;
        let thrown: unknown;
        // ping and traceroute run as long as their arguments say (-c 1000000): after a minute
        // of virtual time they are interrupted as ^C would, and must then stop.
        const ac = new AbortController();
        io.signal = ac.signal;
        tool[1](words.slice(1), io).then((s) => (status = s), (e: unknown) => (thrown = e));
        const ended = () => status !== undefined || thrown !== undefined;
        await ks.sim.runUntil(ended, 60_000);
        if (!ended()) {
          ac.abort();
          await ks.sim.runUntil(ended, 60_000);
        }
        const line = `rump.${tool[0]} ${JSON.stringify(words.slice(1))}`;
        if (thrown !== undefined) throw thrown;
        if (status === undefined) throw new Error(`${line} did not return in a minute of virtual time after an interrupt`);
        if (process.env["FUZZ_DEBUG"]) process.stderr.write(`${line} -> ${status}: ${(err || out).slice(0, 120).replace(/\n/g, " | ")}\n`);
        if (SUSPECT.test(err) || SUSPECT.test(out)) throw new Error(`${line} (status ${status}) printed: ${(err || out).slice(0, 300)}`);
      },
      batchEnd: async (ms) => void (await ks.sim.run(ms)),
      async close() {
        await quiesce(ks);
        await k.halt();
        return problems;
      },
    };
  },
};
