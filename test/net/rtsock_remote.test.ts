/*
 * The routing socket through rump_server (sysproxy): `rump.route monitor`
 * in another process reads the server kernel's messages as NetBSD's
 * route(8) does against a rump_server. Here the client is in this process,
 * through rumpClient on a unix socket, as the tools are.
 */
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import test from 'ava';
import { join } from 'node:path';
import { createNodeHost } from '../../hypercall/node.js';
import { bootKernel } from '../../kern/init.js';
import { AF_ROUTE } from '../../kern/sys.js';
import { startRumpServer } from '../../sysproxy/server.js';
import { rumpClient } from '../../sysproxy/client.js';
import { main as routeMain } from '../../bin/rump.route.js';
import { tempDir } from '../sysproxy/helpers.js';

test('rump.route -n monitor -c 2 against a rump_server prints the server kernel\'s messages', async (t) => {
  const tmp = tempDir();
  const url = `unix://${join(tmp.dir, 'sock')}`;
  const kernel = bootKernel({ components: ['net', 'net_net', 'net_netinet'], host: createNodeHost({ env: {} }) });
  const server = await startRumpServer(kernel, url);
  const client = await rumpClient(url);
  try {
    let out = '';
    const mon = routeMain(['-n', 'monitor', '-c', '2'], { stdout: (s) => { out += s; }, stderr: (s) => { out += s; }, sys: client.sys });
    // Wait until the monitor's routing socket is open (sockstat lists it), then change a route.
    for (let i = 0; i < 500 && !(await kernel.sys.ext('sockstat')).some((e) => e.family === AF_ROUTE); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await kernel.sys.ext('rtmsg', { type: 'add', dst: '10.0.0.0', prefixLen: 8, gateway: '127.0.0.1' });
    await kernel.sys.ext('rtmsg', { type: 'delete', dst: '10.0.0.0', prefixLen: 8 });
    t.is(await mon, 0);
    t.regex(out, /^got message of size 168 on \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\nRTM_ADD: Add Route: len 168, pid 0, seq 0, errno 0, flags: <UP,GATEWAY,DONE,STATIC>\nlocks: none inits: none\nsockaddrs: <DST,GATEWAY,NETMASK>\n 10\.0\.0\.0 127\.0\.0\.1 255\.0\.0\.0\n/);
    t.regex(out, /\nRTM_DELETE: Delete Route: len 168, pid 0, seq 0, errno 0, flags: <GATEWAY,DONE,STATIC>\n/);
  } finally {
    await client.close();
    await server.close();
    await kernel.halt();
    tmp.remove();
  }
});
