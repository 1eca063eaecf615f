"""How fast `chaosctl validate` starts and checks files, and where the time goes.

    .venv/bin/python benchmarks/validate_startup.py              # 5 rounds, the shipped scenarios
    .venv/bin/python benchmarks/validate_startup.py --rounds 10

Printed: wall and CPU time (user+sys, less sensitive to a busy machine) of
`chaosctl --help` and `chaosctl validate scenarios/*.yaml` as subprocesses
(min and median over the rounds), then an in-process breakdown of the imports
(typer, rich, pydantic and its first model, the stack package, ruamel.yaml,
the scenario models) and of the validation of each file, in CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAOSCTL = ROOT / ".venv" / "bin" / "chaosctl"

BREAKDOWN = r"""
import time
marks = [("start", time.process_time())]
def mark(name): marks.append((name, time.process_time()))
import typer, click; mark("typer")
import rich.console; mark("rich")
import pydantic
class _First(pydantic.BaseModel):
    x: int
mark("pydantic + first model")
import chaosctl.stack.topology; mark("chaosctl.stack package")
import ruamel.yaml; mark("ruamel.yaml")
import chaosctl.scenario; mark("scenario models")
import sys
from chaosctl.scenario import load_scenario
for path in sys.argv[1:]:
    load_scenario(path)
mark(f"validate {len(sys.argv) - 1} files")
for (_, a), (name, b) in zip(marks, marks[1:]):
    print(f"{name}\t{b - a:.4f}")
"""


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one subprocess."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def summary(label: str, samples: list[tuple[float, float]]) -> str:
    walls, cpus = [s[0] for s in samples], [s[1] for s in samples]
    return (
        f"{label:<28} wall min {min(walls):.3f}s median {statistics.median(walls):.3f}s | "
        f"cpu min {min(cpus):.3f}s median {statistics.median(cpus):.3f}s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    files = [str(p) for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
    print(summary("chaosctl --help", [timed([str(CHAOSCTL), "--help"]) for _ in range(args.rounds)]))
    print(summary(f"chaosctl validate ({len(files)} files)", [timed([str(CHAOSCTL), "validate", *files]) for _ in range(args.rounds)]))
    rows: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        out = subprocess.run([sys.executable, "-c", BREAKDOWN, *files], cwd=ROOT, capture_output=True, text=True, check=True)
        for line in out.stdout.splitlines():
            name, seconds = line.split("\t")
            rows.setdefault(name, []).append(float(seconds))
    print("in-process breakdown, CPU seconds (min over rounds):")
    for name, values in rows.items():
        print(f"  {name:<28} {min(values):.3f}")


if __name__ == "__main__":
    main()
