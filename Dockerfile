# Volley's production image: gunicorn (`web`) or the worker cluster (`worker`)
# through bin/volley. Build: docker build -t volley .   Run: see compose.yaml
# and docs/DEPLOY.md.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# gettext: compilemessages; curl: the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first (cached while only the code changes), pinned by the lock.
# The `aws` extra brings SES sending and S3 media storage.
COPY pyproject.toml requirements.lock ./
RUN python -m venv /opt/venv \
    && python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["aws"]))' > /tmp/requirements.txt \
    && pip install -c requirements.lock -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY manage.py ./
COPY bin ./bin
COPY config ./config
COPY accounts ./accounts
COPY audiences ./audiences
COPY channels ./channels
COPY campaigns ./campaigns
COPY templates ./templates
COPY static ./static
COPY locale ./locale

# Static files and message catalogs at build time, outside the data volume.
# The throw-away SECRET_KEY only lets settings load during the build.
ENV VOLLEY_VAR_DIR=/data \
    STATIC_ROOT=/app/static-root \
    VOLLEY_STATIC_READY=1 \
    HOST=0.0.0.0 \
    PORT=8000
RUN SECRET_KEY=build-only-secret-key-not-used-at-run-time-000 DEBUG=0 \
        python manage.py collectstatic --noinput -v0 \
    && SECRET_KEY=build-only-secret-key-not-used-at-run-time-000 \
        python manage.py compilemessages --ignore=.venv -v0 \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin volley \
    && mkdir -p /data/media \
    && chown -R volley:volley /data \
    && rm -rf /data/secret_key /data/cache

USER volley
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/healthz" >/dev/null || exit 1
ENTRYPOINT ["/app/bin/volley"]
CMD ["web"]
