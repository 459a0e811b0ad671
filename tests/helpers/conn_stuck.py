#!/usr/bin/env python3
"""Sockets for conn-audit's review tests (issue #11, F5 and F6). Prints one JSON line
({"port": P, "pid": PID}) once the sockets exist, then waits to be killed.

  syn N    a listen(0) listener that never accepts, then N non-blocking connects to it: the
           accept queue fills and the rest stay in SYN_SENT, retransmitting their SYN
  mixed    one process holding an idle client connection and one in CLOSE_WAIT (the server
           closed it) to the same listener
"""
import json
import signal
import socket
import sys
import time


def main():
    mode = sys.argv[1]
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    held = [srv]
    if mode == "syn":
        srv.listen(0)
        for _ in range(int(sys.argv[2])):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            held.append(c)
    else:
        srv.listen(8)
        idle = socket.create_connection(("127.0.0.1", port))
        a, _ = srv.accept()
        cw = socket.create_connection(("127.0.0.1", port))
        b, _ = srv.accept()
        b.close()  # the peer closes: cw goes CLOSE_WAIT and is never closed
        held += [idle, a, cw]
    print(json.dumps({"port": port, "pid": __import__("os").getpid()}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
