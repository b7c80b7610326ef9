// An ordinary Node http server that knows nothing of rump kernels.
// tcp.test.ts runs it unchanged under the hijack (node --import rumpnet/hijack),
// so its sockets are in a rump kernel whose virt0 is on a TAP device.
//
//   GET /lines/N   N lines "NNNNNNN the quick brown fox jumps over the lazy dog\n" (N < 10⁷)
//   GET /quit      "bye\n", then the server closes and the program exits
//   GET /anything  "hello /anything from <client address>\n"
import http from 'node:http';

const server = http.createServer((req, res) => {
  const lines = /^\/lines\/(\d{1,7})$/.exec(req.url ?? '');
  if (lines) {
    const n = Number(lines[1]);
    let body = '';
    for (let i = 0; i < n; i++) body += `${String(i).padStart(7, '0')} the quick brown fox jumps over the lazy dog\n`;
    res.setHeader('content-type', 'text/plain');
    res.end(body);
    return;
  }
  res.end(req.url === '/quit' ? 'bye\n' : `hello ${req.url} from ${req.socket.remoteAddress}\n`);
  if (req.url === '/quit') server.close();
});
server.listen(Number(process.env.PORT), () => console.log(`listening ${JSON.stringify(server.address())}`));
server.on('close', () => console.log('closed'));
