# Volley — the two commands of the README, and a few more.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000


LOCK := requirements.lock
# Two stamps: `make run` installs what runs the product, `make test` (and lint,
# bench) adds the test tools and the `aws` extra. Each is redone only when pyproject.toml or the
# lock changes, so a second `make run` starts at once.
STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# The requirement lines of pyproject.toml: `deps run`, `deps dev`, `deps aws`.
DEPS = $(PYTHON) -c 'import sys, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	print("\n".join(p["dependencies"] if sys.argv[1] == "run" else p["optional-dependencies"][sys.argv[1]]))'

.PHONY: run test test-fast bench lint format migrate demo clean venv venv-dev lock

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# `-c requirements.lock` pins every transitive dependency to what `make lock`
# resolved, so two installs a month apart are the same.
$(STAMP): pyproject.toml $(LOCK) | $(PY)
	$(DEPS) run | xargs -d '\n' $(PY) -m pip install -q -c $(LOCK)
	touch $(STAMP)

# The tests also cover the `aws` extra (SES sending, S3 media settings).
$(DEV_STAMP): $(STAMP) Makefile
	{ $(DEPS) dev; $(DEPS) aws; } | xargs -d '\n' $(PY) -m pip install -q -c $(LOCK)
	touch $(DEV_STAMP)

venv: $(STAMP)
venv-dev: $(DEV_STAMP)

# Regenerate the lock after changing a dependency in pyproject.toml: resolves
# run + dev + aws in a clean throw-away venv and writes `pip freeze` of it.
# Commit requirements.lock with the pyproject.toml change.
lock:
	rm -rf var/lock-venv
	$(PYTHON) -m venv var/lock-venv
	var/lock-venv/bin/python -m pip install -q --upgrade pip
	{ $(DEPS) run; $(DEPS) dev; $(DEPS) aws; } | xargs -d '\n' var/lock-venv/bin/python -m pip install -q
	{ echo "# pip constraints: every package of run + dev + aws, resolved by \`make lock\` on Python 3.11."; \
	  echo "# Used as \`pip install -c requirements.lock\` by the Makefile and the Dockerfile."; \
	  var/lock-venv/bin/python -m pip freeze --all --exclude-editable | grep -v -E '^(pip|setuptools|wheel)=='; } > $(LOCK)
	rm -rf var/lock-venv
	@echo "wrote $(LOCK)"

# Web server + worker cluster on the embedded default (SQLite, ORM broker);
# Ctrl-C stops both.
run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput -v0
	DEBUG=$${DEBUG:-1} PORT=$(PORT) $(PY) manage.py seed_demo
	DEBUG=$${DEBUG:-1} PORT=$(PORT) $(PY) manage.py serve --port $(PORT)

# pytest exits 5 when a selection holds no tests: that is not a failure.
test: $(DEV_STAMP)
	@$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: no tests were selected"; exit 0; fi; \
	exit $$status

test-fast: $(DEV_STAMP)
	$(MAKE) test PYTEST_ARGS='-m "not browser and not cluster" $(PYTEST_ARGS)'

# SPEC §10 benchmarks at full size, results as JSON lines (docs/PERFORMANCE.md).
# Needs PostgreSQL + Redis, on a database the benchmarks may write to freely:
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/volley_bench \
#   REDIS_URL=redis://127.0.0.1:6379/8 make bench
# and wrk for the API benchmark (apt-get install wrk; installed automatically
# when running as root). Quick look: make bench BENCH_ARGS=--quick;
# one benchmark: make bench BENCH_ARGS="send --messages 20000".
bench: $(DEV_STAMP)
	@case "$$DATABASE_URL" in postgres*) ;; *) echo "make bench: set DATABASE_URL=postgres://... (and REDIS_URL)"; exit 2;; esac
	$(PY) -m bench $(BENCH_ARGS)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(DEV_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

demo: $(STAMP)
	$(PY) manage.py seed_demo

clean:
	rm -rf $(VENV) var/cache var/static *.egg-info
