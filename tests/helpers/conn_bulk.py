#!/usr/bin/env python3
"""Hold N idle ESTABLISHED loopback connections (2N sockets) for conn-audit's benchmark.

usage: conn_bulk.py N ; prints "READY <server_pid>" once all are connected, then sleeps.
One server process accepts on 8 listening ports; this process holds the client ends.
"""
import os
import resource
import selectors
import socket
import sys
import time

n = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
listeners = []
for i in range(8):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    listeners.append(s)
ports = [s.getsockname()[1] for s in listeners]
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    held = []
    sel = selectors.DefaultSelector()
    for s in listeners:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select(timeout=1):
            try:
                while True:
                    c, _ = key.fileobj.accept()
                    held.append(c)
            except BlockingIOError:
                pass
for s in listeners:
    s.close()
conns = []
for i in range(n):
    c = socket.socket()
    # spread over 127.0.0.x sources so no port range runs out
    c.bind(("127.0.0.%d" % (2 + i % 50), 0))
    c.connect(("127.0.0.1", ports[i % 8]))
    conns.append(c)
time.sleep(1)
print("READY", pid, flush=True)
try:
    time.sleep(3600)
finally:
    os.kill(pid, 9)
