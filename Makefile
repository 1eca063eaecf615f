# The two commands a newcomer needs: `make demo` and `make test`.
PY := .venv/bin/python
CHAOSCTL := .venv/bin/chaosctl
REPORT_DIR ?= reports/latency-injection

.PHONY: setup demo test unit integration clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(CHAOSCTL) up
	$(CHAOSCTL) run scenarios/latency-injection.yaml --report-dir $(REPORT_DIR); rc=$$?; \
	  echo "report: $(REPORT_DIR)/report.json (exit $$rc)"; exit $$rc

test: setup
	$(PY) -m pytest -ra $(PYTEST_ARGS)

unit: setup
	$(PY) -m pytest -ra tests/unit $(PYTEST_ARGS)

integration: setup
	$(PY) -m pytest -ra tests/integration $(PYTEST_ARGS)

clean:
	-$(CHAOSCTL) down
	rm -rf .venv .tools reports
