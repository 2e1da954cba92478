"""The small registry of `tests.changes.conftest` (transitive impact, and the people around it)
serves problem reports and subscriptions too."""

from tests.changes.conftest import ALL_DAY, NEVER, Graph, edge, graph, it_user, reader

__all__ = ["ALL_DAY", "NEVER", "Graph", "edge", "graph", "it_user", "reader"]
