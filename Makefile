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
# Where `chaosctl setup` builds Toxiproxy, Jaeger and actionlint: the checkout's .tools (its bin/ is
# searched first by the stack and doctor); the per-user default applies outside a checkout.
CHAOSCTL_TOOLS_DIR ?= $(CURDIR)/.tools
export CHAOSCTL_TOOLS_DIR

.PHONY: setup demo test unit integration fuzz lock wheel clean

# One installer: scripts/setup.sh only bootstraps the venv (chaosctl must exist to run), then
# `chaosctl setup` installs the components, as it does for a user of the wheel; --dev adds the
# test-only ones (Chromium, actionlint).
setup:
	@bash scripts/setup.sh
	@$(CHAOSCTL) setup --dev

demo: setup
	$(CHAOSCTL) up
	$(CHAOSCTL) run scenarios/latency-injection.yaml --report-dir $(REPORT_DIR); rc=$$?; \
	  echo "report: $(REPORT_DIR)/report.json (exit $$rc)"; exit $$rc

# Two workers: the live tests in one (in order, as they share stacks), the unit tests beside
# them in the other (tests/conftest.py); the live ones mostly wait on real time.
test: setup
	$(PY) -m pytest -ra -n 2 --dist loadscope $(PYTEST_ARGS)

unit: setup
	$(PY) -m pytest -ra tests/unit $(PYTEST_ARGS)

integration: setup
	$(PY) -m pytest -ra tests/integration $(PYTEST_ARGS)

# The property-based tests at full strength: issue 10's >= 10,000 generated inputs each for the
# scenario loader, the trace parser and the report writers, seeded or derandomized as each test says.
# `make test` runs a random tenth of each count (tests/fuzzing.py).
fuzz: setup
	$(PY) -m pytest -ra --hypothesis-profile=fuzz $(wildcard tests/unit/test_*_fuzz.py) $(PYTEST_ARGS)

# Re-resolve requirements/lock.txt (runtime + test extras, with hashes) and requirements/bootstrap.txt
# (pip, setuptools) after changing a pin in pyproject.toml or requirements/bootstrap.in; then `make setup`.
# tests/unit/test_lock.py fails while pyproject.toml and the lock disagree.
lock:
	@test -x .tools/uv/bin/uv || { python3 -m venv .tools/uv && .tools/uv/bin/pip install -q uv==$(UV_VERSION); }
	.tools/uv/bin/uv pip compile --quiet --generate-hashes --python-version $(LOCK_PY) \
	  --python-platform $(LOCK_PLATFORM) --extra test pyproject.toml -o requirements/lock.txt
	.tools/uv/bin/uv pip compile --quiet --generate-hashes --python-version $(LOCK_PY) \
	  --python-platform $(LOCK_PLATFORM) requirements/bootstrap.in -o requirements/bootstrap.txt

# The wheel that is the whole tool (code + shipped scenarios, System, schemas, dashboards, the
# Jaeger build module), built with the pinned setuptools of the venv; a fresh build/ so that no
# file removed from the tree lingers in it.
wheel: setup
	rm -rf build dist
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w dist .
	@ls -l dist/*.whl

clean:
	-$(CHAOSCTL) down
	rm -rf .venv .tools reports build dist
