#!/usr/bin/env python3
"""Real TCP connections on loopback for conn-audit's tests.

A server process (forked child) and a client process (this one) hold connections in the
shapes conn-audit must recognise, then print one JSON line with the ports and pids and wait
to be killed:
  hung       dual-stack [::] listener that accepts and never answers; clients send a request
             over IPv4 (seen IPv4-mapped by the server), IPv6, and IPv4 with keepalive on
  zerowin    the server never reads; the client writes until the peer's window is zero
  closewait  the server closes at once; the client never closes (CLOSE_WAIT)
  busy       a request/response every 100 ms: must never be flagged
"""
import json
import os
import signal
import socket
import sys
import time


def listener(family=socket.AF_INET6, addr="::", rcvbuf=None):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((addr, 0))
    s.listen(64)
    return s


def main():
    hung = listener()
    zerowin = listener(rcvbuf=4096)
    closewait = listener()
    busy = listener()
    ports = {n: s.getsockname()[1] for n, s in
             [("hung", hung), ("zerowin", zerowin), ("closewait", closewait), ("busy", busy)]}
    r, w = os.pipe()
    server_pid = os.fork()
    if server_pid == 0:
        os.close(r)
        held = []
        os.write(w, b"x")
        import selectors
        sel = selectors.DefaultSelector()
        for s in (hung, zerowin, closewait, busy):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        while True:
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                if s in (hung, zerowin, closewait, busy):
                    c, _ = s.accept()
                    if s is closewait:
                        c.close()
                    elif s is busy:
                        c.setblocking(False)
                        sel.register(c, selectors.EVENT_READ)
                        held.append(c)
                    else:
                        held.append(c)  # never read
                else:
                    try:
                        data = s.recv(4096)
                        if data:
                            s.send(data)
                    except BlockingIOError:
                        pass
    os.close(w)
    os.read(r, 1)
    for s in (hung, zerowin, closewait, busy):
        s.close()
    conns = []
    req = b"GET /crl.pem HTTP/1.1\r\nHost: crl.example\r\n\r\n"
    for host, fam in [("127.0.0.1", socket.AF_INET), ("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)]:
        c = socket.socket(fam, socket.SOCK_STREAM)
        c.connect((host, ports["hung"]))
        c.sendall(req)
        conns.append(c)
    ka = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ka.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    ka.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    ka.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    ka.connect(("127.0.0.1", ports["hung"]))
    ka.sendall(req)
    conns.append(ka)
    z = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    z.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    z.connect(("127.0.0.1", ports["zerowin"]))
    z.setblocking(False)
    sent = 0
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            sent += z.send(b"x" * 65536)
        except BlockingIOError:
            time.sleep(0.05)
            try:
                sent += z.send(b"x" * 4096)
            except BlockingIOError:
                break
    conns.append(z)
    cw = socket.create_connection(("127.0.0.1", ports["closewait"]))
    conns.append(cw)
    b = socket.create_connection(("127.0.0.1", ports["busy"]))
    print(json.dumps({"ports": ports, "server_pid": server_pid, "client_pid": os.getpid(),
                      "zerowin_sent": sent}), flush=True)
    signal.signal(signal.SIGTERM, lambda *a: (os.kill(server_pid, signal.SIGKILL), sys.exit(0)))
    while True:
        b.sendall(b"ping")
        b.recv(16)
        time.sleep(0.1)


if __name__ == "__main__":
    main()
