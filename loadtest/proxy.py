"""A small round-robin TCP proxy: the load balancer in front of several application servers
for `python -m loadtest --servers 2`.

Each accepted connection goes to the next upstream in turn and is piped both ways until either
side closes. The load-test clients open one connection per request (as nginx does towards its
upstreams), so round robin per connection is round robin per request. It passes bytes through
unchanged (no X-Forwarded-For): every server sees 127.0.0.1, as behind a proxy they do not
trust.

    with RoundRobinProxy([("127.0.0.1", 8001), ("127.0.0.1", 8002)]) as proxy:
        ... proxy.url ...          # http://127.0.0.1:<free port>
        proxy.connections          # connections sent to each upstream, in order

It runs its own asyncio loop in a thread of the calling process.
"""

from __future__ import annotations

import asyncio
import itertools
import threading

_CHUNK = 64 * 1024


class RoundRobinProxy:
    def __init__(self, upstreams: list[tuple[str, int]], *, host: str = "127.0.0.1",
                 port: int = 0):
        if not upstreams:
            raise ValueError("RoundRobinProxy needs at least one upstream")
        self.upstreams = list(upstreams)
        self.host = host
        self.port = port
        self.connections = [0] * len(self.upstreams)
        self.failed = [0] * len(self.upstreams)  # upstream refused or unreachable
        self._next = itertools.cycle(range(len(self.upstreams)))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def pick(self) -> int:
        """The index of the upstream the next connection goes to (counted)."""
        index = next(self._next)
        self.connections[index] += 1
        return index

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            # Half-close: tell the other side this one has finished sending.
            try:
                if writer.can_write_eof():
                    writer.write_eof()
            except (OSError, RuntimeError):
                pass

    async def _handle(self, client_reader, client_writer) -> None:
        index = self.pick()
        host, port = self.upstreams[index]
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            self.failed[index] += 1
            client_writer.close()
            return
        try:
            await asyncio.gather(self._pipe(client_reader, up_writer),
                                 self._pipe(up_reader, client_writer))
        finally:
            for w in (up_writer, client_writer):
                w.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopping.wait()
        server.close()
        await server.wait_closed()
        handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    def start(self) -> RoundRobinProxy:
        self._thread = threading.Thread(target=self._run, name="round-robin-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        if not self._ready.is_set():
            raise RuntimeError("the round-robin proxy did not start within 10 s")
        return self

    def stop(self) -> None:
        """Stop accepting, cut the connections still open, end the thread."""
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def __enter__(self) -> RoundRobinProxy:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
