#!/usr/bin/env python3
"""The Linux side of bench/flood_tap.ts, run inside its network namespace.

  flood_linux.py flood IFACE DSTMAC SRCMAC DSTIP PORT RATE SECONDS
      Spoofed SYNs (MSS 1460) from 172.16.0.0/12 to DSTIP:PORT, written on
      IFACE with an AF_PACKET socket (Linux's own stack never sees them), at
      RATE per second for SECONDS, in 1 ms batches. Prints "go" as it starts.
  flood_linux.py clients DSTIP PORT SECONDS EVERY_MS DEADLINE_MS
      Real clients through Linux's TCP: one new connection every EVERY_MS,
      each served when b"hi" and the end arrive within DEADLINE_MS.

Each prints one JSON line at the end. Python's standard library only.
"""
import json
import socket
import struct
import sys
import threading
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def syn_frame(n, dst_mac, src_mac, dst, port):
    src = 0xAC100000 | ((n * 0x9E3779B1 & 0xFFFFFFFF) >> 12 & 0xFFFFF)
    sport = 1024 + n % 60000
    seq = n * 40503 & 0xFFFFFFFF
    opts = b"\x02\x04\x05\xb4"
    tcp = struct.pack("!HHIIBBHHH", sport, port, seq, 0, 6 << 4, 0x02, 65535, 0, 0) + opts
    pseudo = struct.pack("!IIBBH", src, dst, 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(tcp), n & 0xFFFF, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + tcp


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def flood(iface, dst_mac, src_mac, dst_ip, port, rate, seconds):
    dst = struct.unpack("!I", socket.inet_aton(dst_ip))[0]
    # A ring of distinct SYNs, made before the clock starts.
    frames = [syn_frame(n, mac(dst_mac), mac(src_mac), dst, int(port)) for n in range(65536)]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    # The frames are made: say so, so the clients start under the flood, not before it.
    print("go", flush=True)
    rate = float(rate)
    end = float(seconds)
    sent = 0
    errors = 0
    t0 = time.monotonic()
    while True:
        el = time.monotonic() - t0
        due = int(min(el, end) * rate)
        while sent < due:
            try:
                s.send(frames[sent & 0xFFFF])
            except OSError:
                errors += 1
            sent += 1
        if el >= end:
            break
        time.sleep(0.001)
    print(json.dumps({"sent": sent, "seconds": time.monotonic() - t0, "errors": errors}), flush=True)


def clients(dst_ip, port, seconds, every_ms, deadline_ms):
    results = []
    lock = threading.Lock()
    deadline = float(deadline_ms) / 1000

    def one():
        t0 = time.monotonic()
        ok = False
        try:
            with socket.create_connection((dst_ip, int(port)), timeout=deadline) as c:
                got = b""
                while time.monotonic() - t0 < deadline:
                    c.settimeout(max(0.001, deadline - (time.monotonic() - t0)))
                    d = c.recv(16)
                    if not d:
                        ok = got == b"hi"
                        break
                    got += d
        except OSError:
            pass
        took = (time.monotonic() - t0) * 1000
        with lock:
            results.append(took if ok and took <= float(deadline_ms) else -1)

    threads = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < float(seconds):
        th = threading.Thread(target=one)
        th.start()
        threads.append(th)
        time.sleep(float(every_ms) / 1000)
    for th in threads:
        th.join()
    ok = sorted(x for x in results if x >= 0)
    print(json.dumps({
        "clients": len(results), "served": len(ok),
        "p50": ok[len(ok) // 2] if ok else None, "p99": ok[int(len(ok) * 0.99)] if ok else None,
    }), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 9 and sys.argv[1] == "flood":
        flood(*sys.argv[2:])
    elif len(sys.argv) == 7 and sys.argv[1] == "clients":
        clients(*sys.argv[2:])
    else:
        sys.stderr.write(__doc__)
        sys.exit(1)
