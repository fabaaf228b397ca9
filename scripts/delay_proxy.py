#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that holds back the first byte of every answer by a fixed delay: a
local server made to look like one a few milliseconds away (the io workload's network wait).

    scripts/delay_proxy.py --to 127.0.0.1:PORT --delay-ms 5

prints the port it listens on, one line, then forwards every connection to PORT. Each time the
server starts answering after the client has sent something (a request, over keep-alive as
well), the answer's first byte waits `--delay-ms`; the rest flows as it comes. It stops on
SIGTERM / SIGINT, or after `--lifetime-s` (default 3600).

As a module: `with DelayProxy(upstream_port, delay_ms) as p:` listens on `p.port`.
"""

import argparse
import signal
import socket
import sys
import threading
import time

IDLE_TIMEOUT_S = 60
CHUNK = 65536


class DelayProxy:
    def __init__(self, upstream_port, delay_ms, upstream_host="127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.delay_s = delay_ms / 1000.0
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._acceptor = None

    def __enter__(self):
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        self._listener.close()
        return False

    def _accept(self):
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            server = socket.create_connection(self.upstream, timeout=IDLE_TIMEOUT_S)
        except OSError:
            client.close()
            return
        for s in (client, server):
            s.settimeout(IDLE_TIMEOUT_S)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Set when the client has sent something the server has not started answering yet.
        asked = threading.Event()
        up = threading.Thread(target=self._pump, args=(client, server, asked, False), daemon=True)
        up.start()
        self._pump(server, client, asked, True)
        up.join(timeout=IDLE_TIMEOUT_S)

    def _pump(self, src, dst, asked, answers):
        try:
            while not self._stop.is_set():
                data = src.recv(CHUNK)
                if not data:
                    break
                if answers:
                    if asked.is_set():
                        asked.clear()
                        time.sleep(self.delay_s)
                else:
                    asked.set()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--to", required=True, help="127.0.0.1:PORT of the server")
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--lifetime-s", type=float, default=3600)
    args = parser.parse_args(argv)
    host, _, port = args.to.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        parser.error("--to must be 127.0.0.1:PORT (a local server only)")
    if not 0 <= args.delay_ms <= 10_000:
        parser.error("--delay-ms must be in 0..=10000")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with DelayProxy(int(port), args.delay_ms) as proxy:
        print(proxy.port, flush=True)
        stop.wait(args.lifetime_s)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
