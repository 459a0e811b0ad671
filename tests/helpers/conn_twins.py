#!/usr/bin/env python3
"""Healthy twins of conn-audit's causes, on loopback, with real processes (named with
prctl(PR_SET_NAME)); none of them may ever be named a cause:

  pooler    "dbsrv" answers every query; "pooler" holds 8 server connections to it (each sent
            one query and read its answer) and 5 persistent "appcli" clients, each of which
            sent one request that the pooler answered; then everything stays idle
  selfloop  "selfloop" connects to its own listener, sends a request to itself and never
            reads it: both ends are one process
  upstream  (argv: --upstream) an HTTP/1.1 keep-alive server "upsrv" for nginx's upstream
            pool, and a silent "deadup" that accepts and never answers (nginx's bad twin)
  --clients PORT N NAME   one process NAME with N keep-alive clients of PORT (each sends
            one request and keeps its connection open, answered or not)

Prints one JSON line (ports, pids) and waits to be killed; every child dies with it.
"""
import ctypes
import json
import os
import signal
import socket
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME, PR_SET_PDEATHSIG = 15, 1


def child(name, body):
    pid = os.fork()
    if pid == 0:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        libc.prctl(PR_SET_NAME, name, 0, 0, 0)
        try:
            body()
        finally:
            os._exit(0)
    return pid


def forever():
    while True:
        time.sleep(3600)


def listener(port=0, backlog=128):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(backlog)
    return s


def answer_all(srv, reply):
    """Accept every connection; answer each request with `reply` (one thread-free loop)."""
    import selectors
    sel = selectors.DefaultSelector()
    srv.setblocking(False)
    sel.register(srv, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if s is srv:
                c, _ = srv.accept()
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(s)
                s.close()
                continue
            s.sendall(reply(data))


def http_reply(data):
    body = b"ok\n"
    return (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n"
            % len(body)) + body


def pooler(ports, pids):
    db = listener()
    front = listener()
    ports["db"], ports["pooler"] = db.getsockname()[1], front.getsockname()[1]
    pids["dbsrv"] = child(b"dbsrv", lambda: answer_all(db, lambda d: b"RESULT " + d))
    db.close()

    def pool():
        servers = []
        for _ in range(8):
            s = socket.create_connection(("127.0.0.1", ports["db"]))
            s.sendall(b"SELECT 1")
            s.recv(100)
            servers.append(s)
        answer_all(front, lambda d: b"OK " + d)

    pids["pooler"] = child(b"pooler", pool)
    front.close()

    def clients():
        held = []
        for _ in range(5):
            c = socket.create_connection(("127.0.0.1", ports["pooler"]))
            c.sendall(b"SELECT 2")
            c.recv(100)
            held.append(c)
        forever()

    pids["appcli"] = child(b"appcli", clients)


def selfloop(ports, pids):
    def body():
        srv = listener()
        c = socket.create_connection(srv.getsockname())
        a, _ = srv.accept()
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")  # to itself, never read, never answered
        forever()

    pids["selfloop"] = child(b"selfloop", body)


def upstreams(ports, pids):
    up = listener()
    dead = listener(backlog=512)
    ports["upstream"], ports["deadup"] = up.getsockname()[1], dead.getsockname()[1]
    pids["upsrv"] = child(b"upsrv", lambda: answer_all(up, http_reply))

    def silent():
        held = []
        while True:
            held.append(dead.accept()[0])

    pids["deadup"] = child(b"deadup", silent)
    up.close()
    dead.close()


def keepalive_clients(port, n, name):
    """`n` keep-alive clients of `port`: each sends one request; they keep their connection
    open whether it was answered or not."""
    def body():
        held = []
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            held.append(c)
        for c in held:
            c.settimeout(0.5)
            try:
                c.recv(4096)
            except OSError:
                pass
        forever()

    return child(name, body)


def main():
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(0, signal.SIGKILL))
    os.setpgid(0, 0)
    ports, pids = {}, {}
    args = sys.argv[1:]
    if args and args[0] == "--clients":
        # --clients PORT N NAME: keep-alive clients of an nginx
        pids["clients"] = keepalive_clients(int(args[1]), int(args[2]), args[3].encode())
    else:
        pooler(ports, pids)
        selfloop(ports, pids)
        upstreams(ports, pids)
    time.sleep(0.3)
    print(json.dumps({"ports": ports, "pids": pids}), flush=True)
    forever()


if __name__ == "__main__":
    main()
