#!/usr/bin/env python3
"""Hold N idle ESTABLISHED loopback connections (2N sockets) for conn-audit's benchmark.

usage: conn_bulk.py N ; prints "READY <pid> <pid> ..." (every helper process) once all are
connected, then waits; killing the listed pids (and this one) ends it.

The connections are spread over process pairs of at most 10,000 each (a server process
accepting on 8 listening ports, a client process holding the other ends), so no process needs
more file descriptors than a usual hard RLIMIT_NOFILE allows.
"""
import os
import resource
import selectors
import signal
import socket
import sys
import time

PER_PAIR = 10_000


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 100 if hard == resource.RLIM_INFINITY else min(hard, n + 100)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))


def serve(listeners):
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


def pair(count, first, ready_w):
    """Fork a server and a client process for `count` connections; return their pids."""
    raise_nofile(count)
    listeners = []
    for _ in range(8):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(4096)
        listeners.append(s)
    ports = [s.getsockname()[1] for s in listeners]
    server = os.fork()
    if server == 0:
        serve(listeners)
    for s in listeners:
        s.close()
    client = os.fork()
    if client == 0:
        conns = []
        for i in range(count):
            c = socket.socket()
            # spread over 127.0.0.x sources so no port range runs out
            c.bind(("127.0.0.%d" % (2 + (first + i) % 50), 0))
            c.connect(("127.0.0.1", ports[i % 8]))
            conns.append(c)
        os.write(ready_w, b"x")
        while True:
            time.sleep(3600)
    return [server, client]


n = int(sys.argv[1])
r, w = os.pipe()
pids = []
pairs = 0
for first in range(0, n, PER_PAIR):
    pids += pair(min(PER_PAIR, n - first), first, w)
    pairs += 1
for _ in range(pairs):
    os.read(r, 1)
time.sleep(1)
print("READY", *pids, flush=True)


def stop(*_):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
try:
    time.sleep(3600)
finally:
    stop()
