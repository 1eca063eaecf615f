# The two commands a newcomer needs: `make demo` and `make test`.
PY := .venv/bin/python
CHAOSCTL := .venv/bin/chaosctl
REPORT_DIR ?= reports/latency-injection
# A component that `make setup` installs and a test needs FAILS that test instead of skipping it
# (CI cannot pass by skipping). What a machine may lack for good (Docker engine, CUDA device)
# still skips, with its reason in the summary. `make test CHAOSCTL_REQUIRE=` to allow skips.
CHAOSCTL_REQUIRE ?= all
export CHAOSCTL_REQUIRE
# The lock's target: the Python and platform the venv is built for (scripts/install-venv.sh).
LOCK_PY := 3.11
LOCK_PLATFORM := x86_64-unknown-linux-gnu
UV_VERSION := 0.13.9

.PHONY: setup demo test unit integration lock clean

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

# Re-resolve requirements/lock.txt (runtime + test extras, with hashes) and requirements/bootstrap.txt
# (pip, setuptools) after changing a pin in pyproject.toml or requirements/bootstrap.in; then `make setup`.
# tests/unit/test_lock.py fails while pyproject.toml and the lock disagree.
lock:
	@test -x .tools/uv/bin/uv || { python3 -m venv .tools/uv && .tools/uv/bin/pip install -q uv==$(UV_VERSION); }
	.tools/uv/bin/uv pip compile --quiet --generate-hashes --python-version $(LOCK_PY) \
	  --python-platform $(LOCK_PLATFORM) --extra test pyproject.toml -o requirements/lock.txt
	.tools/uv/bin/uv pip compile --quiet --generate-hashes --python-version $(LOCK_PY) \
	  --python-platform $(LOCK_PLATFORM) requirements/bootstrap.in -o requirements/bootstrap.txt

clean:
	-$(CHAOSCTL) down
	rm -rf .venv .tools reports
