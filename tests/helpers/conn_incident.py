#!/usr/bin/env python3
"""The incident conn-audit exists for, and its neighbours, on loopback with real processes
(each named with prctl(PR_SET_NAME), as ps and /proc/PID/comm show them):

  incident   4 (or argv[1]) "apache2" workers, each serving one client of the "front" listener, blocked
             reading from the "crlsrv" upstream, which accepts and never answers; the "curl"
             clients give up after 1 s (their workers' sockets go CLOSE_WAIT)
  queue      "slowsrv" listens with backlog 1 and never accepts: 2 connections of "stuckcli"
             wait in its accept queue, the third is stuck in SYN_SENT (the SYN is dropped)
  sport      "sportcli" connects from 127.0.0.1:P to the silent "sink" at 127.0.0.3, where P
             is the port "other" listens on at 127.0.0.2; "pcli" is connected to "other"
             (inbound on P, idle)
  evil       a process named ESC[2Jevil holding an idle connection to the sink

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
# workers in the incident (argv[1]; the tests use 4, the README's figure 100)
WORKERS = int(sys.argv[1]) if len(sys.argv) > 1 else 4


def child(name, body):
    """Fork a process named `name` running body(); it dies with this one."""
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


def listener(addr="127.0.0.1", port=0, backlog=64):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(backlog)
    return s


def silent(srv):
    """Accept everything, never read or answer."""
    held = []
    while True:
        held.append(srv.accept()[0])


def incident(ports, pids):
    up = listener(backlog=512)
    front = listener(backlog=512)
    ports["upstream"], ports["front"] = up.getsockname()[1], front.getsockname()[1]
    pids["crlsrv"] = child(b"crlsrv", lambda: silent(up))
    up.close()

    def worker():
        c, _ = front.accept()
        c.recv(100)
        u = socket.create_connection(("127.0.0.1", ports["upstream"]))
        u.sendall(b"GET /crl.pem HTTP/1.0\r\n\r\n")
        u.recv(100)  # blocks forever: no read timeout
        forever()

    pids["workers"] = [child(b"apache2", worker) for _ in range(WORKERS)]
    front.close()

    def curl():
        cs = [socket.create_connection(("127.0.0.1", ports["front"])) for _ in range(WORKERS)]
        for c in cs:
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        time.sleep(1)
        for c in cs:
            c.close()  # gave up
        forever()

    pids["curl"] = child(b"curl", curl)


def queue(ports, pids):
    srv = listener(backlog=1)
    ports["queue"] = srv.getsockname()[1]
    pids["slowsrv"] = child(b"slowsrv", forever)

    def stuck():
        cs = []
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", ports["queue"]))
            except BlockingIOError:
                pass
            cs.append(c)
            time.sleep(0.2)
        forever()

    pids["stuckcli"] = child(b"stuckcli", stuck)
    srv.close()


def sport(ports, pids):
    sink = listener("127.0.0.3")
    # the client's port first (bound, not yet connected), then the listener on that port at
    # another address: the port cannot be taken meanwhile
    client = socket.socket()
    client.bind(("127.0.0.1", 0))
    p = client.getsockname()[1]
    other = listener("127.0.0.2", p)
    ports["sink"], ports["other"] = sink.getsockname()[1], p
    # neither holds the client's socket (a fork inherits every fd)
    pids["sink"] = child(b"sink", lambda: (client.close(), silent(sink)))
    pids["other"] = child(b"other", lambda: (client.close(), silent(other)))
    sink.close()
    other.close()

    def sportcli():
        client.connect(("127.0.0.3", ports["sink"]))
        forever()

    def pcli():
        c = socket.create_connection(("127.0.0.2", p))
        forever()

    pids["sportcli"] = child(b"sportcli", sportcli)
    client.close()
    pids["pcli"] = child(b"pcli", pcli)

    def evil():
        c = socket.create_connection(("127.0.0.3", ports["sink"]))
        forever()

    pids["evil"] = child(b"\x1b[2Jevil", evil)


def main():
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(0, signal.SIGKILL))
    os.setpgid(0, 0)
    ports, pids = {}, {}
    incident(ports, pids)
    queue(ports, pids)
    sport(ports, pids)
    time.sleep(0.5)
    print(json.dumps({"ports": ports, "pids": pids}), flush=True)
    forever()


if __name__ == "__main__":
    main()
