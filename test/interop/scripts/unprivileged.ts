/*
 * Run as an unprivileged user (the interop test drops to `nobody`): boot a
 * kernel on the node host with net_virtif, try `ifconfig virt0 create`,
 * then ping lo0 with rump.ping to show the kernel kept running. Prints one
 * JSON line for the test to check.
 */
import { rumpInit } from '../../../index.js';
import { main as ping } from '../../../bin/rump.ping.js';
import { netstack } from '../../../net/netstack.js';

const k = await rumpInit({
  components: ['net', 'net_net', 'net_netinet', 'net_virtif'],
  env: {},
});
const result: Record<string, unknown> = { uid: process.getuid?.() };
try {
  await k.netconfig.ifcreate('virt0');
  result['created'] = true;
} catch (e) {
  const err = e as { code?: string; errno?: number; message?: string };
  result['code'] = err.code;
  result['errno'] = err.errno;
  result['message'] = err.message;
}
let out = '';
const status = await ping(['-c', '2', '-i', '0.1', '-n', '127.0.0.1'], {
  stdout: (s) => void (out += s),
  stderr: (s) => void (out += s),
  sys: k.sys,
});
result['pingStatus'] = status;
result['pingOutput'] = out;
result['interfaces'] = netstack(k).ifs.list.map((i) => i.name);
await k.halt();
process.stdout.write(JSON.stringify(result) + '\n');
