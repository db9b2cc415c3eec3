#!/usr/bin/env python3
"""fork-per-request.py: a server that asks vhqos for its vhosts' QoS itself
(patent FIG. 7, claim 20: fork after accept; with --prefork, claim 21).

The parent accepts a connection and forks; the child reads the request, asks
vhqos over the placement socket ($VHQOS_PLACEMENT_SOCKET, set by
`vhqos run --placement-only`) to place *itself* in the group of the vhost
named by the request's Host header and local address, then serves it. No
syscall of this server is trapped: it calls vhqos, as the patent's
stand-alone server calls the operating system's QoS manager.

  fork-per-request.py --listen 127.0.0.1:8080 [--listen ...] [--user 65534] [--prefork N]

  GET /          JSON: pid, uid, Host, vhqos' answer, /proc/self/cgroup
  GET /burn?ms=N burn N ms of CPU first (to see the cgroups' shares)

--user UID: each child drops to UID (and GID UID) before it asks: a
non-root process may place itself, never another one.
--prefork N (claim 21: fork before accept): N workers are forked first; each
accepts and serves requests one after another and asks again for each one
whose vhost differs from the last (one listener only).

Python 3 standard library only.
"""
import argparse
import json
import os
import signal
import socket
import socketserver
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler


def place(request, sock_path=None, timeout=3.0):
    """One placement request; returns vhqos' reply ({"ok": true, "placed": {...}} or {"ok": false, "error", "code"})."""
    sock_path = sock_path or os.environ.get("VHQOS_PLACEMENT_SOCKET")
    if not sock_path:
        return {"ok": False, "code": "ENOENT", "error": "VHQOS_PLACEMENT_SOCKET is not set"}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(json.dumps({"place": request}).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    user = None
    last = None  # a pre-forked worker's last placement: (request, answer)

    def do_GET(self):
        if self.user is not None and os.getuid() != self.user:
            os.setgroups([])
            os.setgid(self.user)
            os.setuid(self.user)
        host = self.headers.get("Host")
        ip, port = self.connection.getsockname()[:2]
        local = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        request = {"local": local}
        if host:
            request["host"] = host
        if Handler.last and Handler.last[0] == request and Handler.last[1].get("ok"):
            answer = Handler.last[1]  # same vhost as the last request: already there
        else:
            try:
                answer = place(request)
            except OSError as e:  # vhqos not there: serve anyway, unplaced
                answer = {"ok": False, "code": "ECONNREFUSED", "error": str(e)}
            Handler.last = (request, answer)
        url = urllib.parse.urlparse(self.path)
        ms = int(urllib.parse.parse_qs(url.query).get("ms", ["0"])[0])
        end = time.process_time() + ms / 1000
        while time.process_time() < end:
            pass
        with open("/proc/self/cgroup") as f:
            cgroup = f.read()
        body = json.dumps({"pid": os.getpid(), "uid": os.getuid(), "host": host, "placement": answer, "cgroup": cgroup}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(socketserver.ForkingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    block_on_close = False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", action="append", required=True, help="IP:PORT")
    ap.add_argument("--user", type=int, help="children drop to this uid/gid before they ask vhqos")
    ap.add_argument("--prefork", type=int, default=0, help="fork N workers that accept by themselves (claim 21)")
    a = ap.parse_args()
    Handler.user = a.user
    if a.prefork:
        return prefork(a.listen[0], a.prefork)
    servers = []
    for spec in a.listen:
        ip, _, port = spec.rpartition(":")
        Server.address_family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        servers.append(Server((ip.strip("[]"), int(port)), Handler))
    print(f"fork-per-request: pid {os.getpid()} listening on {' '.join(a.listen)}", flush=True)
    if len(servers) == 1:
        servers[0].serve_forever()
    import threading
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


def prefork(spec, n):
    """Claim 21: the workers exist before the requests; each places itself per request."""
    ip, _, port = spec.rpartition(":")
    socketserver.TCPServer.allow_reuse_address = True
    socketserver.TCPServer.address_family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    server = socketserver.TCPServer((ip.strip("[]"), int(port)), Handler)
    workers = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            try:
                server.serve_forever()
            finally:
                os._exit(0)
        workers.append(pid)
    print(f"fork-per-request: pid {os.getpid()} with {n} workers on {spec}", flush=True)
    server.socket.close()

    def stop(*_):
        for w in workers:
            os.kill(w, signal.SIGTERM)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    for _ in workers:
        os.wait()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
