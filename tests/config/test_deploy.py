"""Self-hosting (issue 14): the entrypoint outside Docker, the gunicorn settings,
the proxy setting, the container files and the lean install."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.config.procs import wait_for
from tests.config.test_settings import manage

BASE_DIR = Path(settings.BASE_DIR)
VOLLEY = BASE_DIR / "bin" / "volley"
START_TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Production settings on a throw-away SQLite database in tmp_path."""
    unwanted = {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "EMAIL_URL", "DEBUG"}
    env = {k: v for k, v in os.environ.items() if k not in unwanted}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        VOLLEY_PYTHON=sys.executable,
        VOLLEY_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="0",
        SECURE_SSL_REDIRECT="0",
        Q_WORKERS="1",
        Q_CLUSTER_NAME=f"entrypoint{os.getpid()}",
        WEB_CONCURRENCY="1",
    )
    env.update(extra)
    return env


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def _stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("did not stop within 60 s of SIGTERM")


@pytest.mark.cluster
def test_entrypoint_migrates_serves_and_runs_the_worker_outside_docker(tmp_path):
    env = _env(tmp_path)
    result = subprocess.run(
        [str(VOLLEY), "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "volley.sqlite3").exists()

    port = _free_port()
    log = (tmp_path / "web.log").open("w")
    web = subprocess.Popen(
        [str(VOLLEY), "web"], env={**env, "PORT": str(port)}, stdout=log, stderr=log
    )
    worker = subprocess.Popen(
        [str(VOLLEY), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        # 200 only once the database, the broker and the worker cluster all answer.
        wait_for(
            lambda: _get(base + "/healthz")[0] == 200,
            timeout=START_TIMEOUT,
            what="/healthz to answer 200 from `bin/volley web` + `bin/volley worker`",
        )
        status, body = _get(base + "/accounts/login/")
        assert status == 200
        # Static files were collected: the page links hashed assets whitenoise serves.
        assert b"/static/" in body
        css = body.split(b'href="/static/', 1)[1].split(b'"', 1)[0].decode()
        assert _get(f"{base}/static/{css}")[0] == 200
        # The worker stops on SIGTERM (exec: the signal reaches qcluster itself).
        assert _stop(worker) == 0
    finally:
        _stop(worker)
        _stop(web)
        log.close()


def test_entrypoint_refuses_an_unknown_command():
    result = subprocess.run([str(VOLLEY), "serve-all"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "unknown command 'serve-all'" in result.stderr
    assert "web, worker, migrate, createsuperuser" in result.stderr


def test_entrypoint_creates_a_superuser_without_a_prompt(tmp_path):
    env = _env(
        tmp_path,
        DJANGO_SUPERUSER_USERNAME="root",
        DJANGO_SUPERUSER_EMAIL="root@example.com",
        DJANGO_SUPERUSER_PASSWORD="a long enough password",
    )
    assert subprocess.run([str(VOLLEY), "migrate"], env=env, capture_output=True).returncode == 0
    result = subprocess.run(
        [str(VOLLEY), "createsuperuser"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Superuser created" in result.stdout


def _gunicorn_settings(**env: str) -> dict:
    code = (
        "import json, runpy; c = runpy.run_path('config/gunicorn.conf.py');"
        "print(json.dumps({k: c[k] for k in ('bind', 'workers', 'timeout', 'graceful_timeout',"
        " 'max_requests', 'accesslog')}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"BIND", "HOST", "PORT"}}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    import json

    return json.loads(result.stdout)


def test_gunicorn_settings_come_from_the_environment():
    default = _gunicorn_settings()
    assert default["bind"] == ["127.0.0.1:8000"]
    assert default["workers"] == min(2 * os.cpu_count() + 1, 12)
    # A 200 MB upload must not be cut at gunicorn's default 30 s.
    assert default["timeout"] >= 300
    assert default["accesslog"] == "-"
    assert _gunicorn_settings(HOST="0.0.0.0", PORT="9000")["bind"] == ["0.0.0.0:9000"]
    assert _gunicorn_settings(BIND="unix:/run/volley.sock", PORT="9000")["bind"] == [
        "unix:/run/volley.sock"
    ]
    assert _gunicorn_settings(WEB_CONCURRENCY="5")["workers"] == 5


def test_gunicorn_settings_refuse_a_bad_number():
    code = "import runpy; runpy.run_path('config/gunicorn.conf.py')"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**os.environ, "WEB_CONCURRENCY": "many"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "WEB_CONCURRENCY must be a whole number" in result.stderr


PROXY_HEADER = (
    "from django.conf import settings; print(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None))"
)


def test_the_proxy_ssl_header_is_trusted_only_when_a_proxy_is_declared():
    common = {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "v.example"}
    without = manage("shell", "-c", PROXY_HEADER, **common)
    assert without.returncode == 0, without.stderr
    assert without.stdout.strip().splitlines()[-1] == "None"
    behind = manage("shell", "-c", PROXY_HEADER, BEHIND_PROXY="1", **common)
    assert behind.stdout.strip().splitlines()[-1] == "('HTTP_X_FORWARDED_PROTO', 'https')"
    check = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        BEHIND_PROXY="1",
        SITE_URL="https://v.example",
        **common,
    )
    assert check.returncode == 0, check.stderr


def test_s3_media_storage_is_chosen_by_an_environment_variable():
    code = "from django.conf import settings; s = settings.STORAGES['default']; print(s['BACKEND'], s.get('OPTIONS', {}).get('bucket_name'))"
    common = {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "v.example"}
    assert manage("shell", "-c", code, **common).stdout.split()[-2] == (
        "django.core.files.storage.FileSystemStorage"
    )
    s3 = manage("shell", "-c", code, MEDIA_S3_BUCKET="volley-media", **common)
    assert s3.stdout.split()[-2:] == ["storages.backends.s3.S3Storage", "volley-media"]


def test_container_files_are_consistent():
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "docker" / "check.py")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
    assert "consistent" in result.stdout


def test_make_run_installs_no_test_tools_and_the_lock_pins_every_requirement():
    project = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]
    run = {r.split("[")[0].split("==")[0].lower() for r in project["dependencies"]}
    for tool in ("pytest", "playwright", "schemathesis", "ruff", "aiosmtpd", "time-machine"):
        assert tool not in run
    lock = {
        line.split("==")[0].lower(): line.split("==")[1]
        for line in (BASE_DIR / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    groups = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    for requirement in groups:
        name, version = requirement.split("==")
        name = name.split("[")[0].lower()
        assert lock.get(name) == version, f"{name}: pyproject {version}, lock {lock.get(name)}"
    makefile = (BASE_DIR / "Makefile").read_text()
    assert "-c $(LOCK)" in makefile
    assert "run: $(STAMP)" in makefile and "test: $(DEV_STAMP)" in makefile
