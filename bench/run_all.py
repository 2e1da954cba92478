"""Run every benchmark under bench/ and print one table: ``python -m bench.run_all``.

A benchmark is a module ``bench/bench_<name>.py`` with ``run() -> list[dict]`` (see
``bench/__init__.py`` for the row). Django is pointed at the benchmark database before any of
them is imported, so they may import models at module level. A benchmark that fails prints a
row saying so, the others still run, and the exit status is 1.

    python -m bench.run_all [NAME ...]     # e.g. `impact fanout`; all when none is given
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys
import traceback

import bench


def discover(only: list[str] | None = None) -> list[str]:
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(bench.__path__)
        if info.name.startswith("bench_") and not info.ispkg
    )
    if only:
        names = [n for n in names if n.removeprefix("bench_") in only or n in only]
    return names


def _format(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _ratio(ratio: float) -> str:
    """Two decimals below 10: the targets are 0.25×, 0.3×, 0.4×, 0.7×, and a 0.66 written as
    "0.7×" beside "MISSES the 0.7× target" reads as a contradiction."""
    return f"{ratio:.2f}×" if abs(ratio) < 10 else f"{ratio:.1f}×"


def print_table(rows: list[dict], file=None) -> None:
    file = file or sys.stdout
    headers = ["benchmark", "value", "unit", "baseline", "ratio", "note"]
    cells = [
        [
            str(r["name"]),
            _format(r.get("value")),
            str(r.get("unit") or ""),
            _format(r.get("baseline")),
            "–" if r.get("ratio") is None else _ratio(r["ratio"]),
            str(r.get("note") or ""),
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    numeric = {1, 3, 4}

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    print(line(headers), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for c in cells:
        print(line(c), file=file)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    url = bench.django_setup()
    rows: list[dict] = []
    failed = False
    names = discover(argv)
    if not names:
        print(f"no benchmark matches {argv}", file=sys.stderr)
        return 2
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
            rows.extend(module.run())
        except Exception as exc:  # one failing benchmark must not hide the others' numbers
            failed = True
            traceback.print_exc()
            rows.append(
                bench.row(f"{name} FAILED", None, "", note=f"{type(exc).__name__}: {exc}"[:120])
            )
    database = url.rsplit("/", 1)[-1]
    print(
        f"\nSteward benchmarks — Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"database {database}\n"
    )
    print_table(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
