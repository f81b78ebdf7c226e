"""The rate limiter's key and its bounded table, the load shedder's bound (serving/guards.py)."""

from __future__ import annotations

import pytest

from flywheel.serving import guards
from flywheel.serving.guards import LoadShedder, RateLimiter, client_key


def test_the_key_is_the_principal_or_the_address_never_the_raw_header():
    token = "s3cret-token"
    authenticated = client_key(token, "10.0.0.1")
    assert authenticated == client_key(token, "10.0.0.2")  # one principal, any address
    assert token not in authenticated and authenticated.startswith("token:")
    # No token configured: whatever Authorization the client sends, it is counted by its address (the header is
    # not even an input).
    assert client_key(None, "10.0.0.1") == "address:10.0.0.1"
    assert client_key(None, "10.0.0.1") != client_key(None, "10.0.0.2")


def test_a_client_over_its_rate_waits_and_others_are_not_held_up():
    limiter = RateLimiter(per_minute=3)
    assert [limiter.allow("a")[0] for _ in range(4)] == [True, True, True, False]
    allowed, wait = limiter.allow("a")
    assert not allowed and 0 < wait <= 20  # a token every 20 s
    assert limiter.allow("b") == (True, 0.0)


def test_the_table_is_bounded_and_idle_buckets_are_forgotten(monkeypatch: pytest.MonkeyPatch):
    now = [1000.0]
    monkeypatch.setattr(guards.time, "monotonic", lambda: now[0])
    limiter = RateLimiter(per_minute=60, max_clients=100)
    for i in range(1_000):
        limiter.allow(f"address:{i}")
    assert len(limiter) == 100  # the least recently seen went first
    now[0] += 61  # a minute: every bucket has refilled, a new one would be the same
    limiter.allow("address:new")
    assert len(limiter) == 1
    # A client that spent its burst is not forgotten before it has refilled.
    for _ in range(60):
        limiter.allow("address:busy")
    now[0] += 30
    limiter.allow("address:other")
    assert len(limiter) == 3 and limiter.allow("address:busy") == (True, 0.0)  # 30 s refilled 30 of its 60


def test_the_shedder_admits_up_to_its_bound_and_again_as_work_ends():
    shedder = LoadShedder(max_pending=2)
    assert [shedder.admit() for _ in range(3)] == [True, True, False]
    shedder.done()
    assert shedder.pending == 1 and shedder.admit() and not shedder.admit()
