"""Shared test helpers: a PostgreSQL database per test, and slices of the real data."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from flywheel.settings import Settings
from flywheel.workspace import Workspace

PG_ADMIN_URL = os.environ.get("FLYWHEEL_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the machine's PostgreSQL, dropped afterwards.

    Without a server the test is skipped with the reason, unless FLYWHEEL_REQUIRE_POSTGRES=1 (set by .ci/run),
    which turns the skip into a failure so CI always runs these tests.
    """
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL} ({exc}); these tests need it"
        if os.environ.get("FLYWHEEL_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " and FLYWHEEL_REQUIRE_POSTGRES=1 forbids skipping")
        pytest.skip(message)
    name = f"flywheel_test_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'create database "{name}"')
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'drop database if exists "{name}" with (force)')


def free_port() -> int:
    from flywheel.serving.process import free_port as free

    return free()


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """A real S3-compatible HTTP server (moto) on loopback; yields its endpoint URL."""
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(endpoint, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("moto_server did not start")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def dbt_build(settings: object) -> str:
    """`dbt build` of the project on the settings' warehouse and target; returns dbt's output."""
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "build",
            "--target",
            settings.dbt_target,  # type: ignore[attr-defined]
            "--target-path",
            str(settings.dbt_target_path),
        ],  # type: ignore[attr-defined]
        cwd=settings.dbt_project_dir,  # type: ignore[attr-defined]
        capture_output=True,
        text=True,
        env={**os.environ, **settings.dbt_env()},
        timeout=600,  # type: ignore[attr-defined]
    )
    assert done.returncode == 0, done.stdout[-5000:]
    return done.stdout


def build_loop_until(
    settings: object, last_month: str, first_month: str | None = None, mart: str = "ml_booking_features"
) -> None:
    """Land, ingest, dbt build and validate (``mart``) the bundled data up to ``last_month`` for these settings."""
    from flywheel.jobs.ingest import ingest_all
    from flywheel.jobs.validate import validate_mart
    from flywheel_replay.landing import replay_months

    replay_months(first_month, last_month, settings)
    ingest_all(Workspace(settings))
    dbt_build(settings)
    validate_mart(Workspace(settings), mart, "")  # a new workspace: nothing cached across the dbt build


def train_first_champion(settings: Settings, model: str, serves_from: str | None = None) -> str:
    """The train DAG's steps in this process for a model with no champion yet: train, register, gate (it must
    bless), first promotion (it must promote); returns the version, now @champion. ``serves_from``: the data's
    time it starts serving (YYYY-MM-DD; the deployment history's clock), else now."""
    from datetime import datetime

    from flywheel.jobs import train as train_job

    workspace = Workspace(settings)
    version = train_job.register_model(workspace, model, train_job.train(workspace, model))
    assert train_job.gate_model(workspace, model, version), f"{model} v{version} was not blessed"
    as_of = datetime.fromisoformat(serves_from) if serves_from else None
    promoted = train_job.promote_first_champion(workspace, model, version, as_of=as_of)
    assert promoted, f"{model} v{version} was not promoted"
    return version


def settings_env(settings: object) -> dict[str, str]:
    """The environment that makes another process (a `flywheel serve`) see exactly these settings."""
    fields = settings.model_dump()  # type: ignore[attr-defined]
    return {f"FLYWHEEL_{k.upper()}": str(v) for k, v in fields.items() if v is not None}


def flywheel_serve(settings: object, model: str):  # type: ignore[no-untyped-def]
    """`flywheel serve` as its own process (as in production) that sees exactly these settings."""
    from pathlib import Path

    from flywheel.serving import process

    return process.flywheel_serve(
        model,
        Path(settings.home) / "logs" / "serve.log",  # type: ignore[attr-defined]
        settings_env(settings),
    )


class _Receiver:
    """What a local receiver got: (path, body) pairs for HTTP, raw messages for SMTP."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []


@contextmanager
def http_receiver() -> Iterator[tuple[str, _Receiver]]:
    """A real HTTP server on loopback standing in for a webhook / Slack: records every POST, answers 200."""
    import http.server
    import threading

    receiver = _Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.received.append((self.path, body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", receiver
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, _Receiver]]:
    """A minimal real SMTP server on loopback (the standard library has none since 3.12): accepts every message."""
    import socketserver
    import threading

    receiver = _Receiver()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 localhost test SMTP\r\n")
            sender, data, in_data = "", [], False
            for raw in self.rfile:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if in_data:
                    if line == ".":
                        receiver.received.append((sender, "\n".join(data).encode()))
                        in_data, data = False, []
                        self.wfile.write(b"250 queued\r\n")
                    else:
                        data.append(line[1:] if line.startswith("..") else line)
                    continue
                verb = line[:4].upper()
                if verb in ("EHLO", "HELO"):
                    self.wfile.write(b"250 localhost\r\n")
                elif verb == "MAIL":
                    sender = line
                    self.wfile.write(b"250 ok\r\n")
                elif verb == "DATA":
                    in_data = True
                    self.wfile.write(b"354 go on\r\n")
                elif verb == "QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], receiver
    finally:
        server.shutdown()
        server.server_close()


def hotel_contract(dbt_project_dir):
    """The landing contract of the hotel bookings source (the project has one per landed source)."""
    from flywheel.ingest.contract import load_contracts

    (contract,) = [c for c in load_contracts(dbt_project_dir) if c.qualified_table == "raw.hotel_bookings"]
    return contract


class CuttableProxy:
    """A TCP proxy on loopback in front of a real server, standing in for the network between them: ``cut()``
    makes the server unreachable (open connections reset, new ones closed at once) without losing its state, and
    ``cut_when(rb"PUT /bucket/reports/")`` cuts as soon as a request whose first line matches that pattern passes,
    so a fault lands at an exact point of a job (the upload of one artifact). ``restore()`` lets traffic through."""

    def __init__(self, upstream_port: int):
        import socket
        import threading

        self.upstream_port = upstream_port
        self.trigger: re.Pattern[bytes] | None = None
        self.is_cut = False
        self.cut_requests: list[bytes] = []  # the request lines that set the cut off
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_when(self, request_line: bytes) -> None:
        self.trigger = re.compile(request_line)

    def cut(self) -> None:
        with self._lock:
            self.is_cut = True
            for connection in self._connections:
                self._close(connection)
            self._connections.clear()

    def restore(self) -> None:
        with self._lock:
            self.is_cut, self.trigger = False, None

    def close(self) -> None:
        self.cut()
        self._listener.close()

    @staticmethod
    def _close(connection) -> None:  # type: ignore[no-untyped-def]
        import socket

        with suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
        connection.close()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self.is_cut:
                self._close(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                self._close(client)
                continue
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source, target, outbound: bool) -> None:  # type: ignore[no-untyped-def]
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if outbound and self.trigger and self.trigger.match(data.split(b"\r\n", 1)[0]):
                self.cut_requests.append(data.split(b"\r\n", 1)[0])
                self.cut()
                return
            if not data or self.is_cut:
                self._close(source)
                self._close(target)
                return
            try:
                target.sendall(data)
            except OSError:
                self._close(source)
                return


def small_spec_copies(project_dir: Path, target: Path, names: list[str], model: str = "bike_demand") -> None:
    """Copies of a model's spec (the bike demand one unless told) under other names, with a one-point search: a
    fit takes ~1 s, so a fault loop spends its time in the steps around it (logging, registering, gating)."""
    import yaml

    spec = yaml.safe_load((project_dir / "models" / f"{model}.yaml").read_text())
    spec["estimator"]["params"] |= {"max_iter": 50}
    spec["estimator"]["search_space"] = {"learning_rate": [0.1]}
    spec["estimator"]["search_iterations"] = 1
    spec["split"]["cv_folds"] = 2
    spec["gates"]["min_lift_over_baseline"] = 0  # a few months of data: the point is the registry, not the lift
    target.mkdir(parents=True, exist_ok=True)
    # Each copy gets the model's monitoring policy too (beside the specs, in ../monitoring: a template home's
    # policy folder): the gate's pre-production checklist blesses no model that is not monitored.
    policy = (project_dir / "monitoring" / f"{model}.yaml").read_text()
    (target.parent / "monitoring").mkdir(exist_ok=True)
    for name in names:
        (target / f"{name}.yaml").write_text(yaml.safe_dump({**spec, "name": name}, sort_keys=False))
        (target.parent / "monitoring" / f"{name}.yaml").write_text(policy)


def one_candidate_copies(project_dir: Path, target: Path) -> Path:
    """Every model spec as shipped but for its hyper-parameter search: its first candidate only (the same
    estimator, iterations, folds, gates and canary). For the suite's demo replays, whose assertions are about the
    loop (alerts, retrains, promotions, history), not about which candidate wins: the search is most of a
    training's time. ``make bench`` replays the shipped specs in full."""
    import yaml

    target.mkdir(parents=True, exist_ok=True)
    for path in sorted((project_dir / "models").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        spec["estimator"]["search_iterations"] = 1
        spec["estimator"]["search_strategy"] = "exhaustive"
        (target / path.name).write_text(yaml.safe_dump(spec, sort_keys=False))
    return target
