"""The load generator of `exchange bench`: a separate process that sends prepared HTTP/1.1 requests.

Run as ``python -m exchange.bench.loadgen SPEC.json`` and prints one JSON result on stdout. The
requests are prepared (and, for the signed query, signed) by the parent before this process starts,
so the time measured is the hub's, not the signing of the requests. It speaks just enough HTTP/1.1
over keep-alive connections (asyncio streams, uvloop when installed) to stay far cheaper per request
than the server it measures.

Two modes:

- ``closed``: ``concurrency`` connections each send the next request as soon as the previous answer
  arrived, until all are sent: the throughput at saturation.
- ``open``: requests start at a fixed ``rate`` on a schedule whatever the answers do, each latency
  counted from its scheduled start (so a stall is not hidden by sending less: no coordinated
  omission), over a pool of ``concurrency`` connections.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Spec:
    host: str
    port: int
    mode: str  # closed | open
    concurrency: int
    requests: list[tuple[str, str, bytes]]  # path, content type, body
    rate: float = 0.0  # open mode: requests a second

    @classmethod
    def read(cls, path: Path) -> Spec:
        raw = json.loads(path.read_text(encoding="utf-8"))
        requests = [(r["path"], r["content_type"], base64.b64decode(r["body"])) for r in raw.pop("requests")]
        return cls(requests=requests, **raw)

    def write(self, path: Path) -> None:
        raw: dict[str, Any] = asdict(self)
        raw["requests"] = [
            {"path": p, "content_type": c, "body": base64.b64encode(b).decode()} for p, c, b in self.requests
        ]
        path.write_text(json.dumps(raw), encoding="utf-8")


@dataclass
class Result:
    sent: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # transport errors, the first few
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def count(self, status: int) -> None:
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, path: str, content_type: str, body: bytes) -> int:
        """Send one request and read its whole answer; the status code."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode("ascii")
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        headers = {name.strip().lower(): value.strip() for name, value in headers.items()}
        await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def closed_loop(spec: Spec) -> Result:
    result, pending = Result(), iter(spec.requests)

    async def client() -> None:
        connection = Connection(spec.host, spec.port)
        try:
            for path, content_type, body in pending:
                started = time.perf_counter()
                await _one(connection, result, path, content_type, body)
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(spec.concurrency)))
    result.elapsed_s = time.perf_counter() - started
    return result


async def open_loop(spec: Spec) -> Result:
    result = Result()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(spec.concurrency):
        pool.put_nowait(Connection(spec.host, spec.port))

    async def one(scheduled: float, path: str, content_type: str, body: bytes) -> None:
        connection = await pool.get()
        try:
            await _one(connection, result, path, content_type, body)
        finally:
            pool.put_nowait(connection)
        result.latencies_ms.append((time.perf_counter() - scheduled) * 1000)

    started = time.perf_counter()
    tasks = []
    for i, (path, content_type, body) in enumerate(spec.requests):
        scheduled = started + i / spec.rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, path, content_type, body)))
    await asyncio.gather(*tasks)
    result.elapsed_s = time.perf_counter() - started
    while not pool.empty():
        pool.get_nowait().close()
    return result


async def _one(connection: Connection, result: Result, path: str, content_type: str, body: bytes) -> None:
    result.sent += 1
    try:
        result.count(await connection.send(path, content_type, body))
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        connection.close()
        result.count(0)
        if len(result.failures) < 5:
            result.failures.append(f"{type(exc).__name__}: {exc}")


def main() -> None:
    spec = Spec.read(Path(sys.argv[1]))
    try:
        import uvloop  # uvicorn[standard] installs it

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        runner = asyncio.run
    result = runner(closed_loop(spec) if spec.mode == "closed" else open_loop(spec))
    json.dump(asdict(result), sys.stdout)


if __name__ == "__main__":
    main()
