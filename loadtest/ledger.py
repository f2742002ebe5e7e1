"""The clients' record of what the server confirmed, one JSON object per line.

Kinds:
- `create`   an attempt the server created (201)
- `save`     a draft save the server confirmed (2xx): the codes sent, the codes the client
             expects the rating to hold now (everything it has had confirmed, merged), the
             codes and revision the server answered
- `submit`   a submission the server confirmed (2xx)
- `rejected` a write the server refused (4xx, e.g. 409 stale revision or deadline): changes
             nothing, and is never counted as confirmed
- `unknown`  a write whose outcome the client cannot know (5xx, timeout, connection error)
- `observed` a rating's state read back after an `unknown` write, with its revision

One file per process (`ledger-<source>-<pid>.jsonl`); a line is written and flushed as soon as
the response arrives.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path


class Ledger:
    def __init__(self, path: Path, *, source: str):
        path = Path(path)
        if path.is_dir():
            path = path / f"ledger-{source}-{os.getpid()}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self.source = source

    def write(self, kind: str, **entry) -> None:
        entry = {"kind": kind, "t": time.time(), "source": self.source, **entry}
        self._file.write(json.dumps(entry, sort_keys=True) + "\n")
        self._file.flush()

    def create(self, **entry) -> None:
        self.write("create", **entry)

    def save(self, **entry) -> None:
        self.write("save", **entry)

    def submit(self, **entry) -> None:
        self.write("submit", **entry)

    def rejected(self, **entry) -> None:
        self.write("rejected", **entry)

    def unknown(self, **entry) -> None:
        self.write("unknown", **entry)

    def observed(self, **entry) -> None:
        self.write("observed", **entry)

    def close(self) -> None:
        self._file.close()


def read_ledgers(folder: Path) -> Iterator[dict]:
    for path in sorted(Path(folder).glob("ledger-*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
