"""The tables bench/pages.py and bench/api.py print: throughput and latency against
the bare Django baseline, then CPU per request by component."""

from __future__ import annotations

_CPU_LABELS = {
    "gunicorn": "app ms",
    "postgres": "pg ms",
    "redis": "redis ms",
    "loadgen": "wrk ms",
}


def _baseline_rows(baseline: dict | None) -> list[tuple[str, dict, int]]:
    rows = []
    for name in ("buy-hot", "ping"):
        if baseline and name in baseline:
            errors = sum(
                v for k, v in baseline[name]["status"].items() if k // 100 != 2
            )
            rows.append((f"baseline {name}", baseline[name], errors))
    return rows


def print_tables(
    *,
    title: str,
    measured: list[tuple[str, dict, int]],
    baseline: dict | None,
    cpu_columns: tuple[str, ...],
) -> None:
    """`measured`: (label, wrk result, error count) rows; ratios are to `buy-hot`."""
    rows = measured + _baseline_rows(baseline)
    width = max(len(label) for label, _result, _errors in rows) + 2
    hot = baseline["buy-hot"]["rps"] if baseline and "buy-hot" in baseline else None
    print()
    print(title)
    header = (
        f"{'endpoint':<{width}}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}"
        f"{'p95 ms':>9}{'p99 ms':>9}{'requests':>10}{'errors':>8}{'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    for label, result, errors in rows:
        with_ratio = hot and label != "baseline ping"
        ratio = f"{result['rps'] / hot:.2f}" if with_ratio else "-"
        print(
            f"{label:<{width}}{result['rps']:>9.1f}{result['p50_ms']:>9.1f}"
            f"{result['p90_ms']:>9.1f}{result.get('p95_ms', float('nan')):>9.1f}"
            f"{result['p99_ms']:>9.1f}{result['requests']:>10}{errors:>8}"
            f"{ratio:>7}"
        )
    print()
    print(
        "CPU during each run: machine busy %, then CPU ms per request of each "
        "component, and seconds used by anything else"
    )
    header = (
        f"{'endpoint':<{width}}{'busy %':>8}"
        + "".join(f"{_CPU_LABELS[key]:>9}" for key in cpu_columns)
        + f"{'other s':>9}"
    )
    print(header)
    print("-" * len(header))
    for label, result, _errors in rows:
        cpu, count = result.get("cpu_s") or {}, max(1, result["requests"])
        cells = "".join(
            f"{1000 * cpu[key] / count:>9.2f}" if key in cpu else f"{'-':>9}"
            for key in cpu_columns
        )
        print(
            f"{label:<{width}}{result.get('cpu_busy_pct') or '-':>8}{cells}"
            f"{cpu.get('other', '-'):>9}"
        )
