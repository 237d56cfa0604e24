# The two commands of README.md: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STATE := .localenv

# The embedded demo: LocalStack's dummy credentials. The masking key: the environment's or
# .env's; without either, run, orchestrate and worker write a new random one into .env first
# (python -m localenv key), so that every later way of starting the job uses the same key.
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
MASK_KEY := $(BIN)/python -m localenv key
export PATH := $(BIN):$(PATH)

.PHONY: run test bench stop lint lock clean orchestrate ui crontab worker readme

$(VENV)/.installed: requirements.txt constraints.txt tap-sqs-logins/pyproject.toml sqs-ack/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

# The plugins' venvs are compiled to bytecode as they are installed (uv, Meltano's installer,
# reads UV_COMPILE_BYTECODE), so no run pays for compiling what it imports (bench/README.md).
export UV_COMPILE_BYTECODE := 1

# .meltano/run holds each run's plugin config files, secrets included: private to its owner.
.meltano/.plugins: $(VENV)/.installed meltano.yml orchestrate/constraints.txt transform/pyproject.toml
	$(BIN)/meltano install
	chmod 700 .meltano
	touch $@

# Both plugins install a copy of tap-sqs-logins/, not `-e`: Meltano caches the extractor's
# catalog only then (no discovery per run), and the loader (sqs-ack) must run the same tap code
# as the extractor. So both are installed again, together, whenever the tap's code changes.
TAP_SOURCES := tap-sqs-logins/pyproject.toml $(shell find tap-sqs-logins/tap_sqs_logins -name '*.py')
.meltano/.installed: .meltano/.plugins $(TAP_SOURCES)
	$(BIN)/meltano install --plugin-type extractor tap-sqs-logins
	$(BIN)/meltano install --plugin-type loader target-postgres
	touch $@

run: .meltano/.installed  ## Run the job on the embedded default and print a summary.
	@$(MASK_KEY)
	@$(BIN)/python -m localenv up
	@umask 077; mkdir -p $(STATE); since=$$($(BIN)/python -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).isoformat())'); \
	echo "meltano: running job sqs-logins-to-postgres (log $(STATE)/meltano-run.log)"; \
	if ! $(BIN)/meltano run sqs-logins-to-postgres > $(STATE)/meltano-run.log 2>&1; then \
	  tail -n 25 $(STATE)/meltano-run.log; echo "make run: the job failed; full log in $(STATE)/meltano-run.log"; exit 1; fi; \
	$(BIN)/python -m localenv summary --since "$$since"

test: lint .meltano/.installed  ## Lint, then run every test, starting the services they need.
	$(BIN)/python -m pytest

# A subset: make bench BENCH_ARGS="--counts 2000 --skip-history --skip-latency" (bench/README.md)
BENCH_ARGS ?=
bench: .meltano/.installed  ## The job vs a naive script and the bare drain, history, latency.
	$(BIN)/python -m bench $(BENCH_ARGS)

orchestrate: .meltano/.installed  ## Run every Meltano schedule on Dagster until stopped (Ctrl-C).
	@$(MASK_KEY)
	$(BIN)/meltano invoke dagster:createdb
	$(BIN)/meltano invoke dagster:schedules
	exec $(BIN)/meltano invoke dagster:daemon

ui: .meltano/.installed  ## Dagster's web UI (runs: status, duration, logs) on http://127.0.0.1:3000.
	$(BIN)/meltano invoke dagster:createdb
	exec $(BIN)/meltano invoke dagster:ui

crontab: $(VENV)/.installed  ## Print crontab lines for every Meltano schedule (orchestrate/README.md).
	@$(BIN)/python -m orchestrate.cron

worker: .meltano/.installed  ## Run the job once as worker ID (make worker ID=2); orchestrate/README.md.
	@$(MASK_KEY)
	bin/worker $(ID)

stop:  ## Stop the services `make run` started, and nothing else.
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m localenv stop; fi

PY_DIRS := tap-sqs-logins sqs-ack localenv tests bench orchestrate transform
lint: $(VENV)/.installed  ## Ruff, mypy (strict, pyproject.toml's files), sqlfluff on the dbt SQL.
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)
	$(BIN)/mypy
	$(BIN)/sqlfluff lint transform

readme: $(VENV)/.installed  ## Regenerate the settings table of tap-sqs-logins/README.md.
	$(BIN)/python tap-sqs-logins/scripts/settings_table.py

lock: $(VENV)/.installed  ## Rewrite constraints.txt from the installed versions.
	$(BIN)/pip freeze --exclude-editable --disable-pip-version-check > constraints.txt

clean: stop
	rm -rf $(VENV) .meltano $(STATE) transform/target transform/logs
