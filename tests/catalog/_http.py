"""Helpers of the catalog tests: a tiny loopback HTTP server (http.server in a thread)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: One answer: (status, content type, body); or a number of seconds to sleep before a 200.
Answer = tuple[int, str, str]

#: The landing page of a STAC API that offers item search (what the fake APIs answer).
LANDING = {
    "type": "Catalog",
    "id": "fake",
    "stac_version": "1.1.0",
    "description": "fake API",
    "conformsTo": [
        "https://api.stacspec.org/v1.0.0/core",
        "https://api.stacspec.org/v1.0.0/item-search",
        "https://api.stacspec.org/v1.0.0/collections",
    ],
    "links": [
        {"rel": "search", "href": "./search", "type": "application/geo+json", "method": "POST"},
        {"rel": "data", "href": "./collections", "type": "application/json"},
    ],
}


def ids(items: Iterable) -> list[str]:
    """Sorted item ids."""
    return sorted(i.id for i in items)


def free_port() -> int:
    """A loopback TCP port nobody listens on (at the time of the call)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def http_server(answer: Callable[[str, int], Answer | float]) -> Iterator[tuple[str, list[str]]]:
    """A loopback server answering every GET/POST with ``answer(path, n_seen_before)``.

    A float answer sleeps that many seconds (a hung server), then sends ``200 {}``. Yields the
    base URL and the list of paths requested so far.
    """
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reply = answer(self.path, len(seen))
            seen.append(self.path)
            if isinstance(reply, float | int):
                time.sleep(reply)
                reply = (200, "application/json", "{}")
            status, ctype, body = reply
            raw = body.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except OSError:  # the client gave up (timeout)
                pass

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def in_turn(answers: list[tuple[int, str]]) -> Callable[[str, int], Answer]:
    """Answer JSON ``answers`` in turn (the last one repeats)."""

    def answer(path: str, n: int) -> Answer:
        status, body = answers[min(n, len(answers) - 1)]
        return status, "application/json", body

    return answer
