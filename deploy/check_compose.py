"""Static check of docker-compose.yaml, without Docker: it parses; every image is pinned (a tag, not `latest`;
services built here are tagged with a required version); every long-running service has a health check and a
restart policy, every stateful one a named volume; every variable it references is listed in .env.example; the
MLflow server runs with authentication on; and every service docs/deploy.md names exists.

    python deploy/check_compose.py            # prints the problems, exits 1 if any
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# ${VAR}, ${VAR:-x}, ${VAR:?msg}; not $${VAR}, which compose passes to the container's shell
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:[:?-][^}]*)?\}")
STATEFUL = {
    "postgres": "/var/lib/postgresql/data",
    "redis": "/data",
    "minio": "/data",
    "mlflow": "/var/lib/mlflow-auth",
}
DOC_SERVICE = re.compile(r"^\| `([a-z][a-z0-9-]+)` \|", re.MULTILINE)  # first column of the doc's services table


def _image_problem(name: str, service: dict) -> str | None:
    image = service.get("image", "")
    if not image:
        return f"{name}: no image (a built service needs a tagged image name too)"
    resolved = VARIABLE.sub(lambda m: f"<{m.group(1)}>", image)  # a required variable is a pinned tag
    last = resolved.split("/")[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    if not tag or tag == "latest":
        return f"{name}: image {image!r} is not pinned to a tag"
    return None


def check(compose_text: str, env_example: str, deploy_doc: str) -> list[str]:
    try:
        compose = yaml.safe_load(compose_text)
    except yaml.YAMLError as error:
        return [f"docker-compose.yaml does not parse: {error}"]
    services: dict[str, dict] = compose.get("services") or {}
    problems = [p for name, s in services.items() if (p := _image_problem(name, s))]
    for name, service in services.items():
        one_shot = service.get("restart") == "no"
        if not one_shot and "healthcheck" not in service:
            problems.append(f"{name}: no healthcheck")
        if not service.get("restart"):
            problems.append(f"{name}: no restart policy")
    named = set(compose.get("volumes") or {})
    for name, path in STATEFUL.items():
        mounts = [str(v) for v in services.get(name, {}).get("volumes", [])]
        if not any(m.split(":")[0] in named and m.split(":")[1] == path for m in mounts):
            problems.append(f"{name}: {path} is not on a named volume")
    if "--app-name=basic-auth" not in [str(a) for a in services.get("mlflow", {}).get("command", [])]:
        problems.append("mlflow: the server runs without authentication (--app-name=basic-auth)")
    listed = {
        line.split("=", 1)[0].strip() for line in env_example.splitlines() if "=" in line and not line.startswith("#")
    }
    for variable in sorted(set(VARIABLE.findall(compose_text)) - listed):
        problems.append(f"${{{variable}}} is used by docker-compose.yaml but missing from .env.example")
    for service in sorted(set(DOC_SERVICE.findall(deploy_doc.split("## Services", 1)[-1].split("\n## ", 1)[0]))):
        if service not in services:
            problems.append(f"docs/deploy.md names service `{service}`, which docker-compose.yaml does not have")
    return problems


def main() -> int:
    problems = check(
        (ROOT / "docker-compose.yaml").read_text(),
        (ROOT / ".env.example").read_text(),
        (ROOT / "docs" / "deploy.md").read_text(),
    )
    for problem in problems:
        print(problem)
    print("docker-compose.yaml: OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
