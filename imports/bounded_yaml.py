"""YAML documents read with bounds, for files people upload (the Backstage catalog).

YAML's anchors and aliases let a few hundred bytes stand for gigabytes: nine lines of aliases of
aliases (a "billion laughs") expand to 10⁹ values, merge keys (``<<``) copy mappings into
mappings, and an alias may even contain itself. The parser does not expand them (an alias is a
second reference to the same node), so parsing is cheap; what comes after is not: every check,
message or write that walks the values walks the expansion. So each document's node graph is
measured before a value is built from it, as if every alias were written out in full, and a
document whose expansion is larger than the file could be written out (`Bounds`), nested deeper
than a catalog needs, or that contains itself is refused, with a reason that names the limit and
never the value.

Backstage's catalog format needs no alias (its own examples use none; Steward's export writes
none), but a file that shares an annotation block through one is valid YAML and stays accepted,
as long as its expansion is bounded.

The text is parsed by libyaml's C loader when PyYAML was built with it (every wheel is), the
pure-Python one otherwise: the C loader parses a 1.6 MB catalog ten times faster.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import yaml

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Bounds:
    max_documents: int
    max_nodes: int  # values (mappings, lists, scalars) in the whole file, aliases expanded
    max_chars: int  # characters of every scalar in the whole file, aliases expanded
    max_depth: int  # mappings and lists nested in one another, aliases expanded


class YamlRefused(Exception):
    """The file is valid YAML, but not one to read: `reason` says which bound it passes."""

    def __init__(self, reason: str, *, document: int, line: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.document = document
        self.line = line


@dataclass
class _Measure:
    nodes: int = 0
    chars: int = 0


def _expanded_size(node: yaml.Node, *, document: int, bounds: Bounds) -> tuple[int, int, int]:
    """(values, scalar characters, depth) of `node` with every alias written out, computed over
    the distinct nodes (each once: an alias is the same node object met again), so the cost is
    the size of the source, never of the expansion. Raises YamlRefused for a node containing
    itself or nested deeper than the bound."""
    sizes: dict[int, tuple[int, int, int]] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, children_done = stack.pop()
        key = id(current)
        if children_done:
            on_path.discard(key)
            if isinstance(current, yaml.MappingNode):
                children = [part for pair in current.value for part in pair]
            else:
                children = current.value
            nodes, chars, depth = 1, 0, 0
            for child in children:
                child_nodes, child_chars, child_depth = sizes[id(child)]
                nodes += child_nodes
                chars += child_chars
                depth = max(depth, child_depth)
                # Saturate: a billion laughs would otherwise make these big integers.
                if nodes > bounds.max_nodes or chars > bounds.max_chars:
                    break
            sizes[key] = (nodes, chars, depth + 1)
            if depth + 1 > bounds.max_depth:
                raise YamlRefused(
                    f"Nested more than {bounds.max_depth} levels deep; a catalog needs a few.",
                    document=document,
                    line=current.start_mark.line + 1,
                )
            continue
        if key in sizes:
            continue
        if isinstance(current, yaml.ScalarNode):
            sizes[key] = (1, len(current.value), 0)
            continue
        if key in on_path:
            raise YamlRefused(
                "An alias refers to a value that contains it, so the value never ends.",
                document=document,
                line=current.start_mark.line + 1,
            )
        on_path.add(key)
        stack.append((current, True))
        if isinstance(current, yaml.MappingNode):
            children = [part for pair in current.value for part in pair]
        else:
            children = current.value
        for child in children:
            if id(child) in on_path:
                raise YamlRefused(
                    "An alias refers to a value that contains it, so the value never ends.",
                    document=document,
                    line=child.start_mark.line + 1,
                )
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(node)]


def bounded_documents(text: str, bounds: Bounds) -> Iterator[tuple[int, int, object]]:
    """(document number, line, data) of each document, every one measured before it is built.

    Raises yaml.YAMLError for text that is not YAML and YamlRefused for a file past the bounds;
    the documents before it were yielded already (a caller that refuses the file refuses them).
    """
    loader = SafeLoader(text)
    total = _Measure()
    index = 0
    try:
        while loader.check_node():
            index += 1
            if index > bounds.max_documents:
                raise YamlRefused(
                    f"The file holds more than {bounds.max_documents} documents.",
                    document=index,
                    line=None,
                )
            node = loader.get_node()
            line = node.start_mark.line + 1
            nodes, chars, _depth = _expanded_size(node, document=index, bounds=bounds)
            total.nodes += nodes
            total.chars += chars
            if total.nodes > bounds.max_nodes or total.chars > bounds.max_chars:
                raise YamlRefused(
                    "The YAML expands to more than "
                    + (
                        f"{bounds.max_nodes:,} values"
                        if total.nodes > bounds.max_nodes
                        else f"{bounds.max_chars:,} characters"
                    )
                    + " once its aliases are written out (aliases of aliases, such as a "
                    "“billion laughs”?); a catalog needs nothing near that.",
                    document=index,
                    line=line,
                )
            yield index, line, loader.construct_document(node)
    finally:
        loader.dispose()
