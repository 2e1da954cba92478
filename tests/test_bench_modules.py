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


def test_the_fan_out_rate_is_the_one_a_worker_keeps():
    """From the arrival of the tenth part of the requests to the last (`steady_rate`): a slow
    start (the first tasks' connections, the one collection of the heap) is not the rate."""
    from bench.bench_fanout import steady_rate

    steady = [10.0 + i / 100 for i in range(100)]  # 100 a second
    slow_start = [0.0] * 10 + steady[10:]  # the first tenth arrived 10 s before the rest
    assert steady_rate(steady) == pytest.approx(100)
    assert steady_rate(slow_start) == pytest.approx(100)
    assert steady_rate(list(reversed(steady))) == pytest.approx(100)
    assert steady_rate([1.0]) == 0.0


def test_the_sink_says_when_each_request_arrived_and_when_each_key_first_did():
    from tests.e2e_support import HttpRequest, HttpSink

    sink = HttpSink()
    for at, key in ((1.0, "a"), (2.0, "b"), (3.0, "a"), (4.0, None)):
        headers = {"idempotency-key": key} if key else {}
        sink.requests.append(HttpRequest(path="/", headers=headers, body=b"", at=at))
    assert sink.arrivals() == [1.0, 2.0, 3.0, 4.0]
    assert sorted(sink.arrivals(distinct=True)) == [1.0, 2.0, 4.0]  # a repeat is not counted
    assert sorted(sink.arrivals({"a"})) == [1.0]
    # Asked again after more arrived (a benchmark polls it): the new requests counted too.
    sink.requests.append(HttpRequest(path="/", headers={"idempotency-key": "c"}, body=b"", at=5.0))
    sink.requests.append(HttpRequest(path="/", headers={"idempotency-key": "b"}, body=b"", at=6.0))
    assert sorted(sink.arrivals(distinct=True)) == [1.0, 2.0, 4.0, 5.0]
    assert sorted(sink.arrivals({"a", "c"})) == [1.0, 5.0]
    assert len(sink.arrivals()) == 6
    sink.clear()
    sink.requests.append(HttpRequest(path="/", headers={"idempotency-key": "a"}, body=b"", at=7.0))
    assert sink.arrivals(distinct=True) == [7.0]  # nothing from before the sink was cleared


def test_the_table_writes_a_ratio_near_its_target_as_it_is():
    """0.66 beside a 0.7× target is written 0.66×, not rounded up to the target."""
    import io

    from bench.run_all import print_table

    out = io.StringIO()
    print_table(
        [
            {"name": "near", "value": 1.0, "ratio": 0.66},
            {"name": "far", "value": 1.0, "ratio": 42.37},
            {"name": "none", "value": 1.0},
        ],
        file=out,
    )
    lines = out.getvalue().splitlines()
    assert "0.66×" in lines[2] and "0.7×" not in lines[2]
    assert "42.4×" in lines[3]
    assert "×" not in lines[4]
