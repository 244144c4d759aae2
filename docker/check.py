"""Validate the container files without a Docker daemon (called by .ci/docker).

Checks that compose.yaml parses and has web, worker, PostgreSQL and Redis with
health checks on /healthz, that every path the Dockerfile copies exists, and
that every subcommand compose and the Dockerfile run is one bin/volley knows.
Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def entrypoint_commands() -> set[str]:
    text = (ROOT / "bin" / "volley").read_text()
    case = text[text.index('case "$cmd" in') :]
    return set(re.findall(r"^  ([a-z][a-z|-]*)\)", case, re.M)) | {
        c for group in re.findall(r"^  ([a-z|-]+)\)", case, re.M) for c in group.split("|")
    }


def load_compose() -> dict:
    text = (ROOT / "compose.yaml").read_text()
    try:
        import yaml
    except ImportError:  # PyYAML comes with the test tools; without it, a shallow check
        services = re.findall(r"^  ([a-z][a-z0-9_-]*):\s*$", text, re.M)
        return {"services": {name: {} for name in services}, "_shallow": True}
    return yaml.safe_load(text)


def check_compose(problems: list[str], commands: set[str]) -> None:
    data = load_compose()
    services = data.get("services") or {}
    for name in ("web", "worker", "postgres", "redis"):
        if name not in services:
            problems.append(f"compose.yaml: no `{name}` service")
    if data.get("_shallow"):
        return
    web = services.get("web", {})
    if "/healthz" not in json.dumps(web.get("healthcheck", {})):
        problems.append("compose.yaml: the web service has no health check on /healthz")
    for name in ("postgres", "redis", "worker"):
        if not services.get(name, {}).get("healthcheck"):
            problems.append(f"compose.yaml: the {name} service has no health check")
    for name, service in services.items():
        command = service.get("command")
        if service.get("build") and command:
            first = command[0] if isinstance(command, list) else shlex.split(command)[0]
            if first not in commands:
                problems.append(f"compose.yaml: {name} runs `{first}`, unknown to bin/volley")
    volumes = json.dumps([s.get("volumes", []) for s in services.values()])
    if ":/data" not in volumes:
        problems.append("compose.yaml: no volume for /data (media)")
    env = services.get("web", {}).get("environment", {})
    for var in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SITE_URL", "ALLOWED_HOSTS"):
        if var not in env:
            problems.append(f"compose.yaml: the web service does not set {var}")


def check_dockerfile(problems: list[str], commands: set[str]) -> None:
    text = (ROOT / "Dockerfile").read_text()
    if not re.search(r"^FROM python:3\.11-slim", text, re.M):
        problems.append("Dockerfile: not based on python:3.11-slim")
    if not re.search(r"^USER (?!root)\S+", text, re.M):
        problems.append("Dockerfile: does not switch to a non-root user")
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        parts = [p for p in line.split() if not p.startswith("--")]
        for source in parts[:-1]:
            if not (ROOT / source).exists():
                problems.append(f"Dockerfile: COPY {source}: no such file or directory")
    for needle in ("requirements.lock", "collectstatic", "compilemessages"):
        if needle not in text:
            problems.append(f"Dockerfile: never mentions {needle}")
    match = re.search(r"^ENTRYPOINT \[\"/app/(.+?)\"\]", text, re.M)
    if not match or not (ROOT / match.group(1)).exists():
        problems.append("Dockerfile: ENTRYPOINT is not bin/volley")
    cmd = re.search(r"^CMD \[\"(.+?)\"", text, re.M)
    if cmd and cmd.group(1) not in commands:
        problems.append(f"Dockerfile: CMD `{cmd.group(1)}` is unknown to bin/volley")


def main() -> int:
    problems: list[str] = []
    commands = entrypoint_commands()
    for needed in ("web", "worker", "migrate", "createsuperuser"):
        if needed not in commands:
            problems.append(f"bin/volley: no `{needed}` subcommand")
    check_compose(problems, commands)
    check_dockerfile(problems, commands)
    for problem in problems:
        print(problem)
    if not problems:
        print("container files: Dockerfile, compose.yaml and bin/volley are consistent")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
