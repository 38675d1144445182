# Two commands on a fresh machine: `make demo` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
UI_PORT ?= 3000

.PHONY: demo test faults ui serve bot install system validate bench lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,celery]'
	touch $@

install: $(VENV)/.installed system

# Debian packages (Chromium for the dashboard tests), through apt-get when missing
system:
	@scripts/install_system.sh

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

# the sample covers six weeks of calls: walk-forward folds of 14 train, 7 test and 7 step days fit it (4 folds);
# the UI on the same instance must use the same folds. Set the variables to override (defaults: 60/14/14)
demo ui: export QUANTBOT_WF_TRAIN_DAYS ?= 14
demo ui: export QUANTBOT_WF_TEST_DAYS ?= 7
demo ui: export QUANTBOT_WF_STEP_DAYS ?= 7

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(PY) scripts/demo.py

# dagster dev through scripts/ui.py: make forwards only SIGTERM, to its child, and the code server would
# wait for runs in flight; ui.py turns SIGINT/SIGTERM into a SIGINT to the whole tree, then escalates
ui: install $(DAGSTER_HOME)/dagster.yaml
	exec $(PY) scripts/ui.py -h 127.0.0.1 -p $(UI_PORT)

# the read API and the dashboard on http://127.0.0.1:8000 over the demo's warehouse (QUANTBOT_WAREHOUSE to change);
# the pipeline's status shows when `make ui` runs beside it (QUANTBOT_DAGSTER_URL)
serve: install
	exec $(PY) -m serve

# the Telegram bot (QUANTBOT_BOT_TOKEN, QUANTBOT_BOT_CHATS), asking the API `make serve` runs
bot: install
	exec $(PY) -m serve.bot

validate: install $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dagster definitions validate -w workspace.yaml

test: install $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dagster definitions validate -w workspace.yaml
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check .

# the fault matrix at full strength (docs/reliability.md); `make test` runs the same tests with few trials
FAULT_TRIALS ?= 50
faults: install
	QUANTBOT_FAULT_TRIALS=$(FAULT_TRIALS) $(VENV)/bin/pytest -q -m faults

bench: install
	for b in ingest fetch analytics simulation storage pipeline walk_forward serve; do $(PY) -m benchmarks.bench_$$b || exit 1; done

clean:
	rm -rf data/warehouse .dagster_home
