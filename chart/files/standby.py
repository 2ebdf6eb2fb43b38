"""Stand in for a model group that autoscaling has taken to zero replicas.

While the group has no ready pod, this pod is Ready and carries the group's model label, so the
gateway discovers it as the model's only worker. It holds each request for up to --wait seconds,
and KEDA, polling /status, sees the demand and wakes the group. A request still held when the
group's Service answers is forwarded to it; one that runs out of time gets an OpenAI-shaped 503
with a Retry-After header. Once the group has a ready pod, /ready fails and the gateway routes to
the group's own pods again.

With --relay it is a LoRA adapter's relay instead: it carries the adapter's name as its model
label, is Ready while the group has a ready pod, and forwards each request to the group's Service
unchanged, so the gateway lists and routes the adapter's name (SMG knows one model per pod).

    python standby.py --model NAME --backend HOST:PORT [--port 8080] [--wait 60]
                      [--retry-after 30] [--window 60] [--relay]

Standard library only, so that it runs on a stock Python image.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field

HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "host"}
)
POLL_SECONDS = 0.5
CONNECT_SECONDS = 1.0
MAX_HEAD_BYTES = 64 * 1024


@dataclass
class Request:
    """One parsed HTTP/1.1 request."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        """The first value of a header, or ''."""
        return next((v for k, v in self.headers if k.lower() == name), "")


@dataclass
class Standby:
    """The group's stand-in: its demand counters and the group's Service address."""

    model: str
    host: str
    port: int
    wait: float
    retry_after: int
    window: float
    relay: bool = False
    waiting: int = 0
    arrivals: deque[float] = field(default_factory=deque)
    answered: dict[str, int] = field(default_factory=lambda: {"forwarded": 0, "refused": 0})
    up: asyncio.Event = field(default_factory=asyncio.Event)
    poller: asyncio.Task[None] | None = None

    def status(self) -> dict[str, object]:
        """What KEDA reads: requests held now, and arrivals within the window."""
        cutoff = time.monotonic() - self.window
        while self.arrivals and self.arrivals[0] < cutoff:
            self.arrivals.popleft()
        recent = len(self.arrivals)
        return {
            "model": self.model,
            "waiting": self.waiting,
            "recent": recent,
            "demand": max(self.waiting, recent),
        }

    async def group_up(self) -> bool:
        """Whether the group's Service accepts connections (it has a ready pod)."""
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), CONNECT_SECONDS
            )
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

    async def hold(self) -> bool:
        """Wait up to `wait` seconds for the group; True once it answers."""
        self.arrivals.append(time.monotonic())
        self.waiting += 1
        if self.poller is None or self.poller.done():
            self.poller = asyncio.create_task(self.poll())
        try:
            await asyncio.wait_for(self.up.wait(), self.wait)
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1
        return True

    async def poll(self) -> None:
        """While requests wait, check the group every POLL_SECONDS (one check for all of them)."""
        self.up.clear()
        while self.waiting:
            if await self.group_up():
                self.up.set()
                return
            await asyncio.sleep(POLL_SECONDS)

    async def forward(self, request: Request, client: asyncio.StreamWriter) -> None:
        """Send the request to the group's Service and stream its answer back, then close."""
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:  # gone again between the check and the call
            self.refuse(client)
            return
        head = [f"{request.method} {request.target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in request.headers if k.lower() not in HOP_HEADERS]
        head.append("Connection: close")
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body)
            await writer.drain()
            status, _, rest = (await reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
            lines = [line for line in rest.split(b"\r\n") if line]
            kept = [line for line in lines if not line.lower().startswith(b"connection:")]
            client.write(b"\r\n".join([status, *kept, b"Connection: close"]) + b"\r\n\r\n")
            while chunk := await reader.read(65536):
                client.write(chunk)
                await client.drain()
        finally:
            writer.close()

    def metrics(self) -> str:
        """Prometheus text: requests held now, and requests answered by outcome."""
        model = json.dumps(self.model)
        lines = [
            "# HELP corral_standby_waiting Requests held while the group wakes.",
            "# TYPE corral_standby_waiting gauge",
            f"corral_standby_waiting{{model={model}}} {self.waiting}",
            "# HELP corral_standby_requests_total Requests answered for the group while it was"
            " at zero: forwarded once it woke, or refused with a 503.",
            "# TYPE corral_standby_requests_total counter",
        ]
        lines += [
            f'corral_standby_requests_total{{model={model},outcome="{outcome}"}} {count}'
            for outcome, count in self.answered.items()
        ]
        return "\n".join(lines) + "\n"

    def refuse(self, writer: asyncio.StreamWriter) -> None:
        """The OpenAI-shaped 503 with Retry-After."""
        state = "has no ready pod" if self.relay else "is scaled to zero and still starting"
        message = f"Model '{self.model}' {state}; retry after {self.retry_after} seconds"
        headers = [("Retry-After", str(self.retry_after))]
        code = "model_unavailable" if self.relay else "model_waking"
        reply(writer, 503, error(code, message), headers)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer requests on one connection until the peer closes it or a request is forwarded."""
        try:
            while request := await read_request(reader):
                if request.method == "GET":
                    await self.answer_get(request, writer)
                elif request.method != "POST":
                    # Not an API call: e.g. the HTTP/2 preface (PRI *) a gateway sends to see
                    # whether a worker speaks gRPC. Closing tells it no; it is no demand.
                    break
                elif await self.hold():
                    self.answered["forwarded"] += 1
                    await self.forward(request, writer)
                    break
                else:
                    self.answered["refused"] += 1
                    self.refuse(writer)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    async def answer_get(self, request: Request, writer: asyncio.StreamWriter) -> None:
        """Health, readiness, demand (/status), metrics and the model list."""
        path = request.target.split("?", 1)[0]
        if path == "/health":
            reply(writer, 200, {"status": "ok"})
        elif path == "/ready":
            up = await self.group_up()
            ready = up if self.relay else not up
            reply(writer, 200 if ready else 503, {"standing_in": not up, "relay": self.relay})
        elif path == "/status":
            reply(writer, 200, self.status())
        elif path == "/metrics":
            reply_text(writer, self.metrics())
        elif path == "/v1/models":
            model = {"id": self.model, "object": "model", "created": 0, "owned_by": "corral"}
            reply(writer, 200, {"object": "list", "data": [model]})
        else:
            reply(writer, 404, error("not_found", f"No route for GET {path}"))


def error(code: str, message: str) -> dict[str, object]:
    """An OpenAI-shaped error body."""
    return {
        "error": {"type": "service_unavailable", "code": code, "message": message, "param": None}
    }


def reply(
    writer: asyncio.StreamWriter,
    status: int,
    body: dict[str, object],
    headers: list[tuple[str, str]] | None = None,
) -> None:
    """Write one JSON response on a kept-alive connection."""
    send(writer, status, json.dumps(body).encode(), "application/json", headers or [])


def reply_text(writer: asyncio.StreamWriter, text: str) -> None:
    """Write a Prometheus text exposition on a kept-alive connection."""
    send(writer, 200, text.encode(), "text/plain; version=0.0.4", [])


def send(
    writer: asyncio.StreamWriter,
    status: int,
    data: bytes,
    content_type: str,
    headers: list[tuple[str, str]],
) -> None:
    """Write a response with a known length, so the connection stays open for the next one."""
    reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}
    head = [f"HTTP/1.1 {status} {reason.get(status, '')}", f"Content-Type: {content_type}"]
    head += [f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in headers)]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on the connection, or None at its end."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    first, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = first.split(" ", 2)
    headers = [
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines if line)
    ]
    request = Request(method, target, headers, b"")
    if request.header("transfer-encoding"):
        raise ValueError("chunked request bodies are not supported")
    request.body = await reader.readexactly(int(request.header("content-length") or 0))
    return request


def parser() -> argparse.ArgumentParser:
    """The standby's command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model id the gateway routes here")
    p.add_argument("--backend", required=True, help="the group's Service, HOST:PORT")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on")
    p.add_argument("--port", type=int, default=8080, help="port to listen on")
    p.add_argument("--wait", type=float, default=60, help="seconds to hold each request")
    p.add_argument("--retry-after", type=int, default=30, help="Retry-After of the 503 answer")
    p.add_argument("--window", type=float, default=60, help="seconds an arrival counts as demand")
    p.add_argument(
        "--relay", action="store_true", help="relay an adapter name to the running group"
    )
    return p


async def main(argv: list[str] | None = None) -> None:
    """Serve until killed."""
    args = parser().parse_args(argv)
    host, _, port = args.backend.rpartition(":")
    standby = Standby(
        args.model, host, int(port), args.wait, args.retry_after, args.window, args.relay
    )
    server = await asyncio.start_server(standby.serve, args.host, args.port, limit=MAX_HEAD_BYTES)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
