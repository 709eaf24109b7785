#!/usr/bin/env python3
"""Loopback HTTP target for the checks benchmark: answers every GET with 200 "ok"
(HTTP/1.1, keep-alive) and counts requests; GET /count returns the count."""
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNT = 0
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        global COUNT
        if self.path == "/count":
            with LOCK:
                body = str(COUNT).encode()
        else:
            with LOCK:
                COUNT += 1
            body = b"ok"
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The prober gave up (timeout) or closed a kept-alive connection.
            pass

    def log_message(self, *args):
        pass


def main():
    port = int(sys.argv[1])
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    srv.request_queue_size = 1024
    srv.serve_forever()


if __name__ == "__main__":
    main()
