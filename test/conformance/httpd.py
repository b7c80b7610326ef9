#!/usr/bin/env python3
"""A small static HTTP server taking the flags NetBSD's httpd(8) (bozohttpd) is run with in
tests/net (net_common.sh's start_httpd):

    httpd [-bs] [-P pidfile] [-i address] [-I port] slashdir

test/conformance/netbsd-paths.sh puts it at /usr/libexec/httpd, where the scripts run it
as a host program under LD_PRELOAD=/usr/lib/librumphijack.so, so that it listens on a rump
kernel. Debian has no bozohttpd to install, hence this one (written for these tests; it reads
no bozohttpd code).

-b  daemon mode: listen on the address and serve connections one after another. The process
    forks first and the child makes every socket call: the hijack library gives a child of
    fork() a connection of its own, so the listening socket must be the child's. The parent
    exits 0 once the child listens (1, with the child's words, when it cannot).
    Without -b, as bozohttpd: one request read from standard input, answered on standard output.
-s  log to standard error (without it the daemon logs nowhere: there is no syslog here).
-P  in daemon mode, the file the daemon writes its process id to.
-i  the address to listen on (default: every IPv4 address; an IPv6 literal listens on IPv6).
-I  the port (default 80).

GET and HEAD of files under slashdir (a directory gives its index.html); HTTP/1.0 answers,
one request per connection. Bad requests get 400, paths out of slashdir 403, missing files 404.
"""
import os
import socket
import sys

USAGE = 'usage: httpd [-bs] [-P pidfile] [-i address] [-I port] slashdir'
REASONS = {200: 'OK', 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 501: 'Not Implemented'}
MAX_REQUEST = 8192  # a request line and headers longer than this are a bad request
IO_TIMEOUT = 30.0   # a client that stalls this long is dropped (the server serves one at a time)


def usage():
    print(USAGE, file=sys.stderr)
    sys.exit(1)


def parse(argv):
    opts = {'daemon': False, 'stderr': False, 'pidfile': None, 'address': None, 'port': 80}
    rest = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == '--' or not a.startswith('-') or a == '-':
            rest += argv[i + 1:] if a == '--' else argv[i:]
            break
        flags = a[1:]
        for j, f in enumerate(flags):
            if f == 'b':
                opts['daemon'] = True
            elif f == 's':
                opts['stderr'] = True
            elif f in 'PiI':
                value = flags[j + 1:]
                if not value:
                    i += 1
                    if i >= len(argv):
                        usage()
                    value = argv[i]
                if f == 'P':
                    opts['pidfile'] = value
                elif f == 'i':
                    opts['address'] = value
                else:
                    if not value.isdigit() or not 0 < int(value) < 65536:
                        usage()
                    opts['port'] = int(value)
                break
            else:
                usage()
        i += 1
    if len(rest) not in (1, 2):  # slashdir [myname], as bozohttpd
        usage()
    opts['slashdir'] = os.path.realpath(rest[0])
    if not os.path.isdir(opts['slashdir']):
        print(f'httpd: {rest[0]}: not a directory', file=sys.stderr)
        sys.exit(1)
    return opts


def log(msg):
    print(f'httpd[{os.getpid()}]: {msg}', file=sys.stderr, flush=True)


def answer(slashdir, request):
    """The whole response (bytes) for one request's bytes."""
    head = request.split(b'\r\n', 1)[0].split(b'\n', 1)[0].decode('latin-1')
    parts = head.split()
    if len(parts) not in (2, 3) or not parts[1].startswith('/'):
        return reply(400, b'')
    method, path = parts[0], parts[1].split('?', 1)[0]
    if method not in ('GET', 'HEAD'):
        return reply(501, b'')
    target = os.path.realpath(os.path.join(slashdir, path.lstrip('/')))
    if target != slashdir and not target.startswith(slashdir + os.sep):
        return reply(403, b'')
    if os.path.isdir(target):
        target = os.path.join(target, 'index.html')
    try:
        with open(target, 'rb') as f:
            body = f.read()
    except OSError:
        return reply(404, b'')
    return reply(200, body, head_only=(method == 'HEAD'))


def reply(code, body, head_only=False):
    if code != 200:
        body = f'<html><body><h1>{code} {REASONS[code]}</h1></body></html>\n'.encode()
    head = (f'HTTP/1.0 {code} {REASONS[code]}\r\nServer: rumpnet-httpd\r\n'
            f'Content-Type: text/html\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n')
    return head.encode() + (b'' if head_only else body)


def read_request(recv):
    data = b''
    while b'\r\n\r\n' not in data and b'\n\n' not in data:
        chunk = recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            return None
    return data


def serve_one(conn, slashdir):
    conn.settimeout(IO_TIMEOUT)
    try:
        request = read_request(conn.recv)
        if request is None:
            conn.sendall(reply(400, b''))
        elif request:
            conn.sendall(answer(slashdir, request))
        conn.shutdown(socket.SHUT_WR)
    except OSError as e:
        log(f'connection dropped: {e}')
    finally:
        conn.close()


def listen(opts):
    family = socket.AF_INET6 if opts['address'] and ':' in opts['address'] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((opts['address'] or ('::' if family == socket.AF_INET6 else '0.0.0.0'), opts['port']))
    s.listen(16)
    return s


def daemon(opts):
    r, w = os.pipe()
    pid = os.fork()
    if pid > 0:  # the parent: wait for the child's word, exit with it
        os.close(w)
        word = os.read(r, 4096).decode()
        if word != 'ok':
            print(word or 'httpd: the daemon died before listening', file=sys.stderr)
            sys.exit(1)
        sys.exit(0)
    os.close(r)
    os.setsid()
    try:
        s = listen(opts)
        if opts['pidfile']:
            with open(opts['pidfile'], 'w') as f:
                f.write(f'{os.getpid()}\n')
    except OSError as e:
        os.write(w, f'httpd: cannot listen on {opts["address"] or "*"} port {opts["port"]}: {e.strerror}'.encode())
        os._exit(1)
    os.write(w, b'ok')
    os.close(w)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    if not opts['stderr']:
        os.dup2(devnull, 2)
    while True:
        try:
            conn, _ = s.accept()
        except OSError as e:
            log(f'accept: {e}')
            continue
        serve_one(conn, opts['slashdir'])


def main():
    opts = parse(sys.argv[1:])
    if opts['daemon']:
        daemon(opts)
        return
    request = read_request(lambda n: os.read(0, n))
    out = reply(400, b'') if request is None else answer(opts['slashdir'], request or b'')
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()


if __name__ == '__main__':
    main()
