"""Request guards of the prediction service: body size limit (413), bearer token (401), per-client rate (429)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from typing import Any

from starlette.exceptions import HTTPException

Scope = dict[str, Any]


async def _send_json(send: Any, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """ASGI middleware: refuses bodies over ``max_bytes`` with 413, by Content-Length or, for chunked uploads,
    as soon as the bytes received pass the limit (the body is never read whole into memory first)."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"request body over {self.max_bytes} bytes"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _send_json(send, 413, detail)
            return
        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes through FastAPI's body parsing untouched and becomes the response.
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, limited_receive, send)


def token_matches(header: str | None, token: str) -> bool:
    """Constant-time comparison of ``Authorization: Bearer <token>``."""
    supplied = (header or "").removeprefix("Bearer ").strip() if (header or "").startswith("Bearer ") else ""
    return hmac.compare_digest(supplied.encode(), token.encode())


class RateLimiter:
    """A token bucket per client: ``per_minute`` requests a minute on average, bursts up to one minute's worth.

    The key must be something the client cannot choose freely (``client_key``). The table is bounded: a bucket
    left alone for a minute has refilled and equals a new one, so it is forgotten; past ``max_clients`` the least
    recently seen is dropped (it refills as if new: an attacker with that many addresses gains little).
    Hand-written rather than a library: the lock's limiters (``limits``) would be a new dependency for 30 lines."""

    def __init__(self, per_minute: int, max_clients: int = 10_000):
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # least recently seen first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, client: str) -> tuple[bool, float]:
        """(allowed, seconds until the next request would be allowed)."""
        now = time.monotonic()
        with self._lock:
            self._forget_idle(now)
            tokens, last = self._buckets.pop(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            allowed = tokens >= 1
            self._buckets[client] = (tokens - 1 if allowed else tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return (True, 0.0) if allowed else (False, (1 - tokens) / self.rate)

    def _forget_idle(self, now: float) -> None:
        """Drop the buckets idle long enough to be full again (oldest first: the table is in order of use)."""
        refill = self.capacity / self.rate if self.rate > 0 else float("inf")
        while self._buckets:
            _, (_, last) = next(iter(self._buckets.items()))
            if now - last < refill:
                return
            self._buckets.popitem(last=False)


def client_key(authorization: str | None, token: str | None, address: str | None) -> str:
    """Whom a request is counted against: with a token configured, the principal it authenticates (its identity,
    a digest, never the raw header: a client that sends a new header each time must not get a new bucket each
    time); otherwise the client's address. Called only for requests that passed the token check."""
    if token and token_matches(authorization, token):
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    return f"address:{address or '?'}"
