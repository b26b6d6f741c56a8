"""Every benchmark in turn, then one table of ratios against the issue's targets.

    .venv/bin/python bench/run_all.py [--quick] [--only holds,api,...]

What `make bench` runs (`make bench QUICK=1` for --quick: shorter runs, smaller
crowds, ~10 minutes on 2 CPUs instead of ~40). Each script measures its own
baseline in the same run and adds its figures to bench/results/<date>.json
(bench/harness.py `record`); this one prints the summary from that file, with each
script's exit status. Run it on a machine nobody else is loading if the figures are
to be compared with the dated tables of bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

# name: (script, full arguments, quick arguments)
BENCHMARKS = {
    "holds": (
        "holds.py",
        [],
        ["--duration", "5", "--workers", "1,32", "--expire", "10000"],
    ),
    "api": ("api.py", ["--rounds", "3"], ["--duration", "5"]),
    "pages": ("pages.py", [], ["--duration", "5"]),
    "tickets": ("tickets.py", [], ["--sizes", "1,10", "--seconds", "3"]),
    "sync": ("sync.py", [], ["--listings", "50", "--concurrency", "8", "32"]),
    "webhooks": ("webhooks.py", [], ["--payments", "200", "--workers", "4"]),
    "flash_sale": ("flash_sale.py", [], ["--short"]),
    "admin_pages": ("admin_pages.py", [], ["--requests", "20"]),
}


def _run(name: str, quick: bool) -> tuple[int, float]:
    script, full, short = BENCHMARKS[name]
    argv = [sys.executable, str(harness.BENCH / script), *(short if quick else full)]
    print(f"\n=== {name}: {' '.join(argv[1:])}", flush=True)
    started = time.monotonic()
    done = subprocess.run(argv, cwd=harness.ROOT, env=harness.CLEAN_ENV, check=False)
    return done.returncode, time.monotonic() - started


def _cell(value, digits=2) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


def summary(results: dict, exits: dict[str, tuple[int, float]]) -> list[str]:
    """The table: one row per goal recorded today, ratio against target."""
    lines = [
        "| benchmark | figure | baseline | ratio | target | met |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for entry in results.values():
        for goal in entry.get("goals", []):
            target = goal["target"]
            bound = (
                "-"
                if target is None
                else (
                    f"≤ {target:.2f}" if goal["lower_is_better"] else f"≥ {target:.2f}"
                )
            )
            met = {True: "yes", False: "**no**", None: "-"}[goal["met"]]
            lines.append(
                f"| {goal['label']} | {_cell(goal['figure'], 1)} {goal['unit']} | "
                f"{_cell(goal['baseline'], 1)} | {_cell(goal['ratio'])} | {bound} | "
                f"{met} |"
            )
    for name, (code, seconds) in exits.items():
        if code:
            lines.append(f"| {name}: exited {code} after {seconds:.0f} s | | | | | |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    args = parser.parse_args()
    names = [name for name in args.only.split(",") if name]
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        raise SystemExit(f"unknown benchmarks: {sorted(unknown)}")
    exits = {name: _run(name, args.quick) for name in names}
    path = harness.results_path()
    results = json.loads(path.read_text()) if path.exists() else {}
    print(f"\nSummary ({'quick' if args.quick else 'full'} runs; figures in {path}):\n")
    print("\n".join(summary({k: v for k, v in results.items() if k in names}, exits)))
    return max((code for code, _seconds in exits.values()), default=0)


if __name__ == "__main__":
    sys.exit(main())
