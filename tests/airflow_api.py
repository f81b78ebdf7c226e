"""Airflow's processes and REST API as the integration tests drive them: a long-running process with its log
(stopped with its group), an HTTP health wait, and the REST client a person or a CI job would use."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def background_process(name: str, args: list[str], env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen]:
    """A long-running process of the topology, its output in ``logs/<name>.log``; stopped (group) on exit."""
    out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed below, after the process
    process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:  # already gone (a test killed it): reap it
            process.wait(timeout=10)
        out.close()


def wait_http(url: str, what: str, logs: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    tails = {p.name: p.read_text(errors="replace")[-2000:] for p in logs.glob("*.log")}
    raise AssertionError(f"{what} did not answer at {url} within {timeout:.0f} s; logs: {json.dumps(tails)[:8000]}")


class AirflowAPI:
    """The REST API as a person or a CI job uses it: a token from /auth/token, then /api/v2."""

    def __init__(self, base: str, password: str, user: str = "admin") -> None:
        token = httpx.post(f"{base}/auth/token", json={"username": user, "password": password}, timeout=30)
        token.raise_for_status()
        self.http = httpx.Client(
            base_url=f"{base}/api/v2", headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=30
        )

    def get(self, path: str, **params: object) -> dict:
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            known = {d["dag_id"] for d in self.get("/dags", limit=100)["dags"]}
            if set(dag_ids) <= known:
                return
            time.sleep(2)
        raise AssertionError(f"DAGs not parsed in {timeout:.0f} s: {sorted(set(dag_ids) - known)}")

    def unpause(self, dag_id: str) -> None:
        self.http.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def trigger(self, dag_id: str) -> str:
        response = self.http.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        response.raise_for_status()
        return response.json()["dag_run_id"]

    def wait_for_success(self, dag_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.get(f"/dags/{dag_id}/dagRuns", limit=10)["dag_runs"]
            for run in runs:
                if run["state"] == "success":
                    return run
                if run["state"] == "failed":
                    raise AssertionError(f"{dag_id} failed: {self.task_states(dag_id, run['dag_run_id'])}")
            time.sleep(3)
        raise AssertionError(f"{dag_id}: no successful run within {timeout:.0f} s")

    def latest_run(self, dag_id: str) -> dict | None:
        runs = self.get(f"/dags/{dag_id}/dagRuns", limit=1, order_by="-run_after")["dag_runs"]
        return runs[0] if runs else None

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict]:
        """Every try of one task instance, first first: state and the worker (hostname) that ran it."""
        tries = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")["task_instances"]
        return sorted(tries, key=lambda t: t["try_number"])

    def task_states(self, dag_id: str, run_id: str) -> list[dict]:
        instances = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]
        return [{"task": t["task_id"], "state": t["state"], "hostname": t["hostname"]} for t in instances]

    def waiting_for_input(self, dag_id: str, timeout: float = 180) -> dict:
        """The first unanswered human-in-the-loop request of ``dag_id`` (as the Required actions page lists it)
        whose task is parked (``awaiting_input``). The request exists from the moment the task starts, but Airflow
        resumes a task on an answer only if it is parked when the answer arrives: an answer given in between is
        recorded and never resumes it (a CI run answered 50 ms before the task parked and waited forever)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            details = self.get(f"/dags/{dag_id}/dagRuns/~/hitlDetails", limit=50)["hitl_details"]
            waiting = [
                d
                for d in details
                if not d.get("response_received") and d["task_instance"].get("state") == "awaiting_input"
            ]
            if waiting:
                return waiting[0]
            time.sleep(1)
        raise AssertionError(f"{dag_id}: no request for input within {timeout:.0f} s")

    def answer(self, detail: dict, chosen: list[str], **params_input: object) -> dict:
        ti = detail["task_instance"]
        response = self.http.patch(
            f"/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/{ti['map_index']}"
            "/hitlDetails",
            json={"chosen_options": chosen, "params_input": params_input},
        )
        response.raise_for_status()
        return response.json()
