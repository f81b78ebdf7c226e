"""Request guards of the prediction service: body size limit (413), bearer token (401), per-client rate (429),
load shedding (503)."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

if TYPE_CHECKING:
    from flywheel.serving.metrics import Metrics
    from flywheel.settings import Settings

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


def client_key(token: str | None, address: str | None) -> str:
    """Whom a request that passed the token check is counted against: with a token configured, the principal it
    authenticates (a digest of the token, never the raw header: a client that sends a new header each time must not
    get a new bucket each time); otherwise the client's address."""
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    return f"address:{address or '?'}"


class LoadShedder:
    """A bound on the work admitted and not yet done: past ``max_pending`` requests a new one is refused at once
    (503 with Retry-After) instead of waiting in the thread pool's queue until the answer's timeout (504).

    A request counts from its admission until its scoring really ends, not until its answer's timeout: work that
    outlived its timeout still holds a thread, and admitting more behind it would only queue it longer. The
    timeout stays for a genuinely stuck model."""

    def __init__(self, max_pending: int):
        self.max_pending = max_pending
        self._pending = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        return self._pending

    def admit(self) -> bool:
        with self._lock:
            if self._pending >= self.max_pending:
                return False
            self._pending += 1
            return True

    def done(self) -> None:
        with self._lock:
            self._pending -= 1


def install_guards(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """413 for big bodies, 401 without the token, 429 over the rate, 422 that never fails to serialise."""
    limiter = app.state.rate_limiter = RateLimiter(settings.serve_rate_limit_per_minute)
    app.add_middleware(BodySizeLimit, max_bytes=settings.serve_max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> Response:
        # FastAPI's default handler echoes the offending input, and a NaN or inf cannot be written as JSON.
        return json_response(422, {"detail": _json_safe(exc.errors())})

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        if request.url.path == "/predict":
            authorization = request.headers.get("authorization")
            if settings.serve_token and not token_matches(authorization, settings.serve_token):
                response: Response = json_response(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
            else:
                address = request.client.host if request.client else None
                allowed, wait = limiter.allow(client_key(settings.serve_token, address))
                response = (
                    await call_next(request)
                    if allowed
                    else json_response(429, "rate limit exceeded", {"Retry-After": str(max(1, round(wait)))})
                )
        else:
            response = await call_next(request)
        metrics.requests.labels(request.url.path, str(response.status_code)).inc()
        return response


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items() if k != "ctx"}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def json_response(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    from fastapi.responses import JSONResponse

    return JSONResponse({"detail": detail} if isinstance(detail, str) else detail, status, headers=headers)
