"""A small round-robin TCP proxy: the load balancer in front of several application servers
for `python -m loadtest --servers 2`.

Each accepted connection goes to the next upstream in turn and is piped both ways until both
sides have finished sending. The load-test clients open one connection per request (as nginx
does towards its upstreams), so round robin per connection is round robin per request. It
passes bytes through unchanged (no X-Forwarded-For): every server sees 127.0.0.1, as behind a
proxy they do not trust.

    with RoundRobinProxy([("127.0.0.1", 8001), ("127.0.0.1", 8002)]) as proxy:
        ... proxy.url ...          # http://127.0.0.1:<free port>
        proxy.connections          # connections sent to each upstream, in order

One thread accepts, one thread per connection pipes it with blocking sockets: plain and easy to
reason about at load-test rates (a few hundred connections open at most). A connection that
stays silent both ways for `idle_timeout` seconds is closed.
"""

from __future__ import annotations

import contextlib
import itertools
import selectors
import socket
import threading

_CHUNK = 64 * 1024


class RoundRobinProxy:
    def __init__(self, upstreams: list[tuple[str, int]], *, host: str = "127.0.0.1",
                 port: int = 0, idle_timeout: float = 120.0):
        if not upstreams:
            raise ValueError("RoundRobinProxy needs at least one upstream")
        self.upstreams = list(upstreams)
        self.host = host
        self.port = port
        self.idle_timeout = idle_timeout
        self.connections = [0] * len(self.upstreams)
        self.failed = [0] * len(self.upstreams)  # upstream refused or unreachable
        self._next = itertools.cycle(range(len(self.upstreams)))
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def pick(self) -> int:
        """The index of the upstream the next connection goes to (counted)."""
        with self._lock:
            index = next(self._next)
            self.connections[index] += 1
        return index

    def start(self) -> RoundRobinProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(1024)
        listener.settimeout(0.2)  # to notice stop()
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, name="round-robin-proxy",
                                        daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            client.settimeout(None)
            index = self.pick()
            threading.Thread(target=self._forward, args=(client, index), daemon=True,
                             name=f"round-robin-proxy-{index}").start()

    def _track(self, *socks: socket.socket, add: bool) -> None:
        with self._lock:
            for s in socks:
                (self._open.add if add else self._open.discard)(s)

    def _forward(self, client: socket.socket, index: int) -> None:
        self._track(client, add=True)
        try:
            try:
                upstream = socket.create_connection(self.upstreams[index], timeout=10)
            except OSError:
                with self._lock:
                    self.failed[index] += 1
                return
            self._track(upstream, add=True)
            with upstream:
                self._pipe(client, upstream)
            self._track(upstream, add=False)
        finally:
            self._track(client, add=False)
            client.close()

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        other = {client: upstream, upstream: client}
        for s in other:
            s.settimeout(self.idle_timeout)  # bounds sendall too
        with selectors.DefaultSelector() as selector:
            for s in other:
                selector.register(s, selectors.EVENT_READ)
            reading = len(other)
            while reading:
                ready = selector.select(self.idle_timeout)
                if not ready:
                    return  # silent both ways for too long
                for key, _events in ready:
                    source = key.fileobj
                    try:
                        data = source.recv(_CHUNK)
                        if data:
                            other[source].sendall(data)
                            continue
                    except OSError:
                        return  # reset or timed out: close both
                    # This side has finished sending: pass the half-close on.
                    selector.unregister(source)
                    reading -= 1
                    with contextlib.suppress(OSError):
                        other[source].shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        """Stop accepting, cut the connections still open, end the accepting thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            still_open = list(self._open)
        for s in still_open:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> RoundRobinProxy:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
