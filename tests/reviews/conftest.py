"""The small registry of `tests.changes.conftest` serves reviews too."""

from tests.changes.conftest import ALL_DAY, NEVER, Graph, edge, graph, it_user, reader

__all__ = ["ALL_DAY", "NEVER", "Graph", "edge", "graph", "it_user", "reader"]
