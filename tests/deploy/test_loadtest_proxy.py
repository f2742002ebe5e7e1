"""The round-robin proxy of the two-server load test (loadtest/proxy.py): each connection goes
to the next server in turn, and what passes through arrives unchanged both ways."""

import http.server
import socket
import threading
import urllib.error
import urllib.request

import pytest

from loadtest.proxy import RoundRobinProxy


def _server(name: str):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self._answer(body[::-1])

        def do_GET(self):
            self._answer(name.encode())

        def _answer(self, body):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture
def upstreams():
    servers = [_server("A"), _server("B")]
    yield [("127.0.0.1", s.server_address[1]) for s in servers]
    for s in servers:
        s.shutdown()
        s.server_close()


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def test_each_connection_goes_to_the_next_server_in_turn(upstreams):
    with RoundRobinProxy(upstreams) as proxy:
        answers = [_get(f"{proxy.url}/x") for _ in range(6)]
        assert answers == ["A", "B", "A", "B", "A", "B"]
        assert proxy.connections == [3, 3]
        assert proxy.failed == [0, 0]


def test_a_large_body_passes_through_unchanged_both_ways(upstreams):
    body = bytes(range(256)) * 4096  # 1 MiB
    with RoundRobinProxy(upstreams) as proxy:
        request = urllib.request.Request(f"{proxy.url}/echo", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.read() == body[::-1]


def test_an_unreachable_server_is_counted_and_the_client_gets_no_answer(upstreams):
    # A port held by a socket that is bound but never listens: connecting to it is refused, and
    # nothing else (the proxy's own listener included) can take it while the test runs. A port
    # merely found free could be handed to the proxy itself, which would then answer.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        dead = holder.getsockname()
        with RoundRobinProxy([upstreams[0], dead]) as proxy:
            assert _get(f"{proxy.url}/") == "A"
            with pytest.raises((urllib.error.URLError, ConnectionError)):
                _get(f"{proxy.url}/")
            assert proxy.failed == [0, 1]
            assert _get(f"{proxy.url}/") == "A"


def test_it_needs_an_upstream():
    with pytest.raises(ValueError, match="at least one upstream"):
        RoundRobinProxy([])


def test_many_connections_at_once_are_all_answered(upstreams):
    from concurrent.futures import ThreadPoolExecutor

    with RoundRobinProxy(upstreams) as proxy, ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(lambda _i: _get(f"{proxy.url}/"), range(200)))
        assert sorted(set(answers)) == ["A", "B"]
        assert answers.count("A") == answers.count("B") == 100
        assert proxy.connections == [100, 100]
