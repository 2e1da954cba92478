"""The load benchmark (see bench/load.py), under the name `bench.run_all` discovers."""

from bench.load import run

__all__ = ["run"]
