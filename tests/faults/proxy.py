"""A TCP proxy the fault tests control: it stands between the app and PostgreSQL, so a test can
cut the database connection without touching the (shared) PostgreSQL server.

    with TcpProxy(("127.0.0.1", 5432)) as proxy:   # listens on 127.0.0.1:proxy.port
        ...
        proxy.cut("hang")     # drop every open connection; accept new ones, never answer
        proxy.cut("reset")    # drop every open connection; refuse new ones at once
        proxy.restore()       # forward again

"hang" is a database host that vanished (packets go nowhere: only a connect timeout ends the
wait); "reset" is a database that is down (connections refused at once).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections import Counter

FORWARD, HANG, RESET = "forward", "hang", "reset"


def _abort(sock: socket.socket) -> None:
    """Close with a TCP reset, waking any thread blocked on the socket."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class _Link:
    """One client connection and its upstream connection, pumped both ways by two threads."""

    def __init__(self, proxy: TcpProxy, client: socket.socket, upstream: socket.socket):
        self.proxy, self.client, self.upstream = proxy, client, upstream
        self._closed = threading.Event()

    def start(self) -> None:
        for src, dst in ((self.client, self.upstream), (self.upstream, self.client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        _abort(self.client)
        _abort(self.upstream)
        self.proxy._forget(self)


class TcpProxy:
    def __init__(self, target: tuple[str, int], *, host: str = "127.0.0.1"):
        self.target = target
        self._listener = socket.create_server((host, 0), backlog=128)
        self._listener.settimeout(0.2)  # so the accept loop notices close()
        self.host, self.port = self._listener.getsockname()[:2]
        self.mode = FORWARD
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._held: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                mode = self.mode
                self.stats[f"accepted_{mode}"] += 1
                if mode == HANG:
                    self._held.append(client)
                    continue
            if mode == RESET:
                _abort(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                self.stats["upstream_failed"] += 1
                _abort(client)
                continue
            link = _Link(self, client, upstream)
            with self._lock:
                self._links.add(link)
            link.start()

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def cut(self, mode: str = HANG) -> int:
        """Stop forwarding: every open connection is reset, new ones hang or are refused.
        Returns how many open connections were cut."""
        assert mode in (HANG, RESET)
        with self._lock:
            self.mode = mode
            links = list(self._links)
        for link in links:
            link.close()
        self.stats["cut_connections"] += len(links)
        return len(links)

    def restore(self) -> None:
        with self._lock:
            self.mode = FORWARD
            held, self._held = self._held, []
        for sock in held:  # a client still waiting on one gets an error now, not a hang
            _abort(sock)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._links)

    def close(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut(RESET)
        self.restore()
