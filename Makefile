# Volley — the two commands of the README, and a few more.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench lint format migrate demo clean venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Reinstall only when pyproject.toml changes, so a second `make run` starts fast.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["dev"]))' \
		| xargs -d '\n' $(PY) -m pip install -q
	touch $(STAMP)

venv: $(STAMP)

# Web server + worker cluster on the embedded default (SQLite, ORM broker);
# Ctrl-C stops both.
run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput -v0
	DEBUG=$${DEBUG:-1} PORT=$(PORT) $(PY) manage.py seed_demo
	DEBUG=$${DEBUG:-1} PORT=$(PORT) $(PY) manage.py serve --port $(PORT)

# pytest exits 5 when a selection holds no tests: that is not a failure.
test: $(STAMP)
	@$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: no tests were selected"; exit 0; fi; \
	exit $$status

test-fast: $(STAMP)
	$(MAKE) test PYTEST_ARGS='-m "not browser and not cluster" $(PYTEST_ARGS)'

# SPEC §10 benchmarks at full size, results as JSON lines (docs/PERFORMANCE.md).
# Needs PostgreSQL + Redis, on a database the benchmarks may write to freely:
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/volley_bench \
#   REDIS_URL=redis://127.0.0.1:6379/8 make bench
# and wrk for the API benchmark (apt-get install wrk; installed automatically
# when running as root). Quick look: make bench BENCH_ARGS=--quick;
# one benchmark: make bench BENCH_ARGS="send --messages 20000".
bench: $(STAMP)
	@case "$$DATABASE_URL" in postgres*) ;; *) echo "make bench: set DATABASE_URL=postgres://... (and REDIS_URL)"; exit 2;; esac
	$(PY) -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

demo: $(STAMP)
	$(PY) manage.py seed_demo

clean:
	rm -rf $(VENV) var/cache var/static *.egg-info
