#!/usr/bin/env python3
"""A client that half-closes (shutdown(SHUT_WR)) after its request and waits for the answer
("hccli", FIN_WAIT2), and a server that read the request and never answers ("hcsrv",
CLOSE_WAIT). Prints one JSON line (the port) and waits to be killed; the server dies with it."""
import ctypes, json, os, socket, time
libc = ctypes.CDLL(None)
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8); port = srv.getsockname()[1]
if os.fork() == 0:
    libc.prctl(1, 9, 0, 0, 0); libc.prctl(15, b"hcsrv", 0, 0, 0)
    a, _ = srv.accept(); a.recv(100)   # reads the request, never answers
    time.sleep(120); os._exit(0)
srv.close()
libc.prctl(15, b"hccli", 0, 0, 0)
c = socket.create_connection(("127.0.0.1", port))
c.sendall(b"GET / HTTP/1.0\r\n\r\n")
c.shutdown(socket.SHUT_WR)   # half-close: done sending, waits for the answer
print(json.dumps({"port": port}), flush=True)
c.recv(100)
time.sleep(120)
