"""Every benchmark `make bench` runs can be loaded: `bench.run_all` imports them one by one at run
time, so a name one of them takes from another that moved (bench_webhooks importing a baseline
that bench_fanout no longer had) failed only there, after minutes of other benchmarks."""

import importlib
import pkgutil

import pytest

import bench


@pytest.mark.parametrize(
    "name",
    sorted(
        info.name
        for info in pkgutil.iter_modules(bench.__path__)
        if info.name.startswith("bench_") and not info.ispkg
    ),
)
def test_a_benchmark_loads_and_has_run(name):
    module = importlib.import_module(f"bench.{name}")
    assert callable(module.run)
