"""Running an HTTP server as its own process on a free loopback port: `flywheel serve` in the demo and the tests
(as in production), and `mlflow models serve` in the benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server_process(
    args: list[str], port: int, ready_path: str, log_file: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> Iterator[str]:
    """Start ``args`` (which must listen on ``port``), wait until ``ready_path`` answers 200, yield the base URL,
    and stop it with SIGTERM (a clean shutdown: `flywheel serve` flushes its prediction log)."""
    import httpx

    url = f"http://127.0.0.1:{port}"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # The virtual environment first on PATH: `mlflow models serve` starts `uvicorn` by name.
    environment = {**os.environ, **(env or {}), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(log_file, "ab") as sink:
        process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, env=environment)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(url + ready_path, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{Path(args[0]).name} did not become ready at {url}{ready_path}; see {log_file}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)


def flywheel_serve(model: str, log_file: Path, env: dict[str, str] | None = None) -> AbstractContextManager[str]:
    """`flywheel serve <model>` as its own process; a context manager yielding the base URL."""
    port = free_port()
    return server_process([str(BIN / "flywheel"), "serve", model, "--port", str(port)], port, "/ready", log_file, env)
