"""receivers.py: loopback receivers for the alert-delivery tests.

- make_ca(dir): a throw-away CA and a server certificate for localhost /
  127.0.0.1, made with the openssl command;
- Webhook: an HTTP(S) server in a thread that follows a scripted plan for
  its first requests (drop the connection, answer a status, hang past the
  client's timeout) and accepts everything after it, recording each
  request (alert id header, parsed JSON body, Authorization header);
- driver(): the path of the outbox host program (tests/outbox_driver.c).
"""
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time


def make_ca(d):
    """CA + server cert/key in d; returns dict of paths."""
    p = {k: os.path.join(d, k) for k in ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem", "ext")}

    def sh(*args):
        subprocess.run(args, check=True, capture_output=True)

    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
       "-subj", "/CN=DaemonEye test CA", "-keyout", p["ca.key"], "-out", p["ca.pem"])
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
       "-keyout", p["srv.key"], "-out", p["srv.csr"])
    with open(p["ext"], "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth\n")
    sh("openssl", "x509", "-req", "-in", p["srv.csr"], "-CA", p["ca.pem"], "-CAkey", p["ca.key"],
       "-CAcreateserial", "-days", "2", "-extfile", p["ext"], "-out", p["srv.pem"])
    os.chmod(p["srv.key"], 0o644)  # rsyslog may read it as another user
    return p


class Webhook:
    """plan: list of actions for the first requests, in order: "drop",
    "hang", or an HTTP status (int). Then every request gets 200."""

    def __init__(self, plan=(), tls=None, hang_s=3.0):
        self.plan = list(plan)
        self.lock = threading.Lock()
        self.requests = []   # every request: (action, headers dict, body dict or None)
        self.accepted = []   # bodies answered with 2xx, in order
        self.hang_s = hang_s
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                # headers and body are two writes: without NODELAY, Nagle
                # and the client's delayed ACK cost 40 ms per request
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with outer.lock:
                    action = outer.plan.pop(0) if outer.plan else 200
                    outer.requests.append((action, dict(self.headers), body))
                if action == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if action == "hang":
                    time.sleep(outer.hang_s)
                    self.close_connection = True
                    return
                code = int(action)
                msg = b"ok" if code < 300 else b"rejected: bad alert" if code < 500 else b"down"
                self.send_response(code)
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
                if 200 <= code < 300:
                    with outer.lock:
                        outer.accepted.append(body)

        class Srv(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that went away (killed, timed out) is expected here

        self.srv = Srv(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls["srv.pem"], tls["srv.key"])
            self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def ids(self):
        with self.lock:
            return [b["id"] for b in self.accepted if b]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def driver():
    return os.environ["DE_OUTBOX_DRIVER"]


def store_alerts(db):
    """{id: json document} of every alert in a store, in commit order."""
    import sqlite3
    c = sqlite3.connect(db)
    rows = c.execute("SELECT alert_id, json FROM outbox_t ORDER BY seq").fetchall()
    c.close()
    return {r[0]: json.loads(r[1]) for r in rows}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
