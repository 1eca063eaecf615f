"""How fast `chaosctl --help` and `chaosctl validate` start, side by side with Chaos Toolkit's
`chaos validate`, and where the time goes.

    .venv/bin/python benchmarks/validate_startup.py                        # 7 rounds
    .venv/bin/python benchmarks/validate_startup.py --rounds 15 --compare /tmp/before/src

Chaos Toolkit (chaostoolkit==1.19.0, chaostoolkit-lib==1.44.0) lives in the benchmark's own
virtualenv (--ctk-venv, default /tmp/chaosctl-bench-ctk), created with this Python's base
interpreter and installed from PyPI when absent. Each round runs every command once, in turn
(so a busy moment hits all of them): `chaos --help`, `chaos validate` of a small experiment,
`chaosctl --help`, `chaosctl validate` of one shipped scenario, and with --compare the same two
chaosctl commands from a BEFORE tree (PYTHONPATH). Printed: median wall and CPU (user+sys, less
sensitive to a busy machine) per command, the ratios to `chaos validate`, and the load average;
with --instructions, each validate's instruction count (callgrind: the same on a busy machine);
then an in-process breakdown of chaosctl's imports and validation in CPU seconds (as the short
path of `chaosctl validate` in chaosctl/__main__.py runs it: no typer, no pydantic plugin discovery,
each fault kind's validator built on first use).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CTK_PINS = ("chaostoolkit==1.19.0", "chaostoolkit-lib==1.44.0")
SCENARIO = ROOT / "scenarios" / "smoke.yaml"
# A Chaos Toolkit experiment of about the smoke scenario's size: a steady-state probe, a fault, a check.
EXPERIMENT = {
    "version": "1.0.0", "title": "the gateway rides out a model server kill", "description": "benchmark",
    "tags": ["benchmark"],
    "steady-state-hypothesis": {"title": "gateway healthy", "probes": [{
        "type": "probe", "name": "gateway-healthz", "tolerance": 200,
        "provider": {"type": "http", "url": "http://127.0.0.1:17030/healthz", "timeout": 3}}]},
    "method": [
        {"type": "action", "name": "kill-model-server", "provider": {"type": "process", "path": "true", "arguments": ""}},
        {"type": "probe", "name": "gateway-still-serves", "provider": {"type": "http", "url": "http://127.0.0.1:17030/healthz"}},
    ],
    "rollbacks": [],
}  # fmt: skip

BREAKDOWN = r"""
import time
marks = [("start", time.process_time())]
def mark(name): marks.append((name, time.process_time()))
import chaosctl.__main__ as entry; entry._without_pydantic_plugins(); mark("chaosctl.__main__")
import gc; gc.disable()  # as the short path does
import pydantic
class _First(pydantic.BaseModel):
    x: int
mark("pydantic + first model")
import chaosctl.stack.topology; mark("chaosctl.stack.topology")
import ruamel.yaml; mark("ruamel.yaml")
import chaosctl.scenario; mark("scenario models")
from chaosctl.scenario.fault_base import lazy_fault_schemas; lazy_fault_schemas()  # as the short path does
import chaosctl.system.validate; mark("system.validate (no System models: facts.py)")
import sys
from chaosctl.system.validate import validate_file
for path in sys.argv[1:]:
    validate_file(__import__("pathlib").Path(path))
mark(f"validate {len(sys.argv) - 1} file(s)")
for (_, a), (name, b) in zip(marks, marks[1:]):
    print(f"{name}\t{b - a:.4f}")
"""


def ensure_ctk(venv: Path) -> Path:
    chaos = venv / "bin" / "chaos"
    if not chaos.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *CTK_PINS], check=True)
    return chaos


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, cpu) seconds of one subprocess. getrusage, not os.times: os.times counts clock ticks
    (10 ms here, a thirtieth of the command), getrusage microseconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def commands(chaos: Path, experiment: Path, compare: Path | None) -> dict[str, tuple[list[str], dict[str, str] | None]]:
    chaosctl = [sys.executable, "-m", "chaosctl"]  # what the `chaosctl` command runs (chaosctl.__main__:main)
    # --no-version-check: no network call (it would only slow Chaos Toolkit down); --no-log-file: no file write.
    ctk = [str(chaos), "--no-version-check", "--no-log-file"]
    out = {
        "chaos --help": ([*ctk, "--help"], None),
        "chaos validate": ([*ctk, "validate", str(experiment)], None),
        "chaosctl --help": ([*chaosctl, "--help"], None),
        "chaosctl validate": ([*chaosctl, "validate", str(SCENARIO)], None),
    }
    if compare is not None:
        env = {**os.environ, "PYTHONPATH": str(compare)}
        # A tree from before chaosctl/__main__.py had the command in chaosctl.cli:main.
        before = chaosctl if (compare / "chaosctl" / "__main__.py").is_file() else [sys.executable, "-m", "chaosctl.cli"]
        out["before: chaosctl --help"] = ([*before, "--help"], env)
        out["before: chaosctl validate"] = ([*before, "validate", str(SCENARIO)], env)
    return out


def instructions(cmds: dict[str, tuple[list[str], dict[str, str] | None]]) -> None:
    """Instructions executed by each command (valgrind's callgrind, once each): unlike wall or CPU
    time, the same on an idle or a busy machine, so the ratio holds when other work shares the cores."""
    counts: dict[str, int] = {}
    for name, (cmd, env) in cmds.items():
        if "--help" in cmd:
            continue
        out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
        counts[name] = int(re.search(r"Collected : (\d+)", out.stderr).group(1))  # type: ignore[union-attr]
    print("instructions (callgrind, one run each):")
    for name, count in counts.items():
        print(f"  {name:<26} {count / 1e6:8.1f} M   x chaos validate: {count / counts['chaos validate']:.3f}")


def breakdown(rounds: int) -> None:
    rows: dict[str, list[float]] = {}
    for _ in range(rounds):
        out = subprocess.run([sys.executable, "-c", BREAKDOWN, str(SCENARIO)], cwd=ROOT, capture_output=True, text=True, check=True)
        for line in out.stdout.splitlines():
            name, seconds = line.split("\t")
            rows.setdefault(name, []).append(float(seconds))
    print("in-process breakdown of chaosctl validate, CPU seconds (median over rounds):")
    for name, values in rows.items():
        print(f"  {name:<28} {statistics.median(values):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ctk-venv", type=Path, default=Path("/tmp/chaosctl-bench-ctk"))
    parser.add_argument("--compare", type=Path, default=None, help="a BEFORE tree's src/ (PYTHONPATH)")
    parser.add_argument("--instructions", action="store_true", help="also count each command's instructions (needs valgrind)")
    args = parser.parse_args()
    chaos = ensure_ctk(args.ctk_venv)
    experiment = args.ctk_venv / "experiment.json"
    experiment.write_text(json.dumps(EXPERIMENT))
    cmds = commands(chaos, experiment, args.compare)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for name, (cmd, env) in cmds.items():
            samples[name].append(timed(cmd, env))
        loads.append(os.getloadavg()[0])
    print(f"load average (1 min) during the run: {min(loads):.2f}..{max(loads):.2f} on {os.cpu_count()} cpus; {args.rounds} rounds")
    ref_wall = statistics.median(s[0] for s in samples["chaos validate"])
    ref_cpu = statistics.median(s[1] for s in samples["chaos validate"])
    for name, values in samples.items():
        wall, cpu = statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)
        print(f"  {name:<26} wall median {wall:.3f}s  cpu median {cpu:.3f}s   "
              f"x chaos validate: wall {wall / ref_wall:.2f}  cpu {cpu / ref_cpu:.2f}")
    if args.instructions:
        instructions(cmds)
    breakdown(args.rounds)


if __name__ == "__main__":
    main()
