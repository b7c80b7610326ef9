/*
 * A real-time lab bridged to Linux through a TAP device, run inside the
 * test's network namespace by test/interop/lab-tap.test.ts:
 *
 *   Linux tun0 10.199.0.1 ══ TAP ══ virt0 10.199.0.2 edge ── r ── b 10.0.2.2
 *
 * edge (a lab router with the virt component) gets virt0 from rump.ifconfig
 * run in process on its kernel; Linux routes 10.0.0.0/16 through it; Linux
 * pings b across two lab routers. Prints one JSON line with the results.
 */
import { spawnSync } from 'node:child_process';
import { createLab, LAB_COMPONENTS } from '../../../lab/index.js';
import { main as ifconfig } from '../../../bin/rump.ifconfig.js';
import { main as route } from '../../../bin/rump.route.js';

const lab = createLab({ clock: 'real' });
const edge = lab.router('edge', { components: [...LAB_COMPONENTS, 'net_virtif'] });
const r = lab.router('r');
const b = lab.host('b');
lab.link(edge, r, { delay: 2 }); // 10.0.1.0/24
lab.link(r, b, { delay: 2 }); // 10.0.2.0/24
let out = '';
const io = { stdout: (s: string) => { out += s; }, stderr: (s: string) => { out += s; }, sys: edge.sys, clock: lab.clock };
const steps: Record<string, number> = {};
steps.create = await ifconfig(['virt0', 'create'], io);
steps.inet = await ifconfig(['virt0', 'inet', '10.199.0.2/24'], io);
// r reaches Linux through edge (the lab does not know the TAP network).
steps.route = await route(['-q', 'add', '-net', '10.199.0.0/24', '10.0.1.1'], { ...io, sys: r.sys });
const sh = (cmd: string, ...args: string[]): number => spawnSync(cmd, args, { stdio: 'ignore' }).status ?? -1;
steps.addr = sh('ip', 'addr', 'add', '10.199.0.1/24', 'dev', 'tun0');
steps.up = sh('ip', 'link', 'set', 'tun0', 'up');
steps.via = sh('ip', 'route', 'add', '10.0.0.0/16', 'via', '10.199.0.2');
// spawnSync would block this process, and the lab runs in it: ping asynchronously.
const ping = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
  import('node:child_process').then(({ execFile }) => {
    execFile('ping', ['-c', '3', '-i', '0.2', '-W', '5', '-n', b.address], (e, stdout) => resolve({ status: e ? (e.code as number) ?? 1 : 0, stdout }));
  });
});
await lab.halt();
console.log(JSON.stringify({ steps, out, ping }));
process.exit(0);
