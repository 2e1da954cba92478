import random

import pytest
from django.core.exceptions import ValidationError

from registry import selectors
from registry.models import Dependency, ITSystem
from registry.selectors import ImpactedProject
from registry.services import dependency_add
from tests.factories import DependencyFactory, ProjectFactory, SystemFactory

pytestmark = pytest.mark.django_db

HARD, SOFT = Dependency.Criticality.HARD, Dependency.Criticality.SOFT


def edge(source, target, criticality=HARD):
    kind = "source_project" if source.__class__.__name__ == "Project" else "source_system"
    return DependencyFactory(**{kind: source}, target_system=target, criticality=criticality)


def by_slug(impacts):
    return {i.project_slug: i for i in impacts}


def test_direct_and_transitive_projects_are_touched_with_their_paths():
    dc = SystemFactory(name="Datacenter Austin")
    sso = SystemFactory(name="SSO")
    people = ProjectFactory(name="People", slug="people")
    lonely = ProjectFactory(slug="lonely")
    edge(sso, dc)
    edge(people, sso)
    edge(lonely, SystemFactory())

    impacts = by_slug(selectors.impacted_projects_for([dc]))

    assert set(impacts) == {"people"}
    assert impacts["people"].path == ("SSO", "Datacenter Austin")
    assert impacts["people"].path_display == "People → SSO → Datacenter Austin"
    assert impacts["people"].all_hard is True


def test_diamond_reaches_each_project_once_by_the_shortest_path():
    root = SystemFactory(name="Root")
    left, right = SystemFactory(name="Left"), SystemFactory(name="Right")
    deep = SystemFactory(name="Deep")
    app = ProjectFactory(slug="app")
    edge(left, root)
    edge(right, root)
    edge(deep, left)
    edge(app, deep)
    edge(app, right)

    impacts = selectors.impacted_projects_for([root])

    assert len(impacts) == 1
    assert impacts[0].path == ("Right", "Root")


def test_soft_edge_makes_the_path_soft_and_a_hard_path_of_equal_length_wins():
    root = SystemFactory(name="Root")
    soft_mid, hard_mid = SystemFactory(name="SoftMid"), SystemFactory(name="HardMid")
    edge(soft_mid, root, SOFT)
    edge(hard_mid, root)
    only_soft, both = ProjectFactory(slug="only-soft"), ProjectFactory(slug="both")
    edge(only_soft, soft_mid)
    edge(both, soft_mid)
    edge(both, hard_mid)
    soft_direct = ProjectFactory(slug="soft-direct")
    edge(soft_direct, root, SOFT)

    impacts = by_slug(selectors.impacted_projects_for([root]))

    assert impacts["only-soft"].all_hard is False
    assert impacts["both"].all_hard is True
    assert impacts["both"].path == ("HardMid", "Root")
    assert impacts["soft-direct"].all_hard is False
    assert impacts["soft-direct"].path == ("Root",)


def test_depth_and_several_affected_systems():
    chain = [SystemFactory(name=f"S{i}") for i in range(6)]
    for upper, lower in zip(chain[1:], chain, strict=False):
        edge(upper, lower)
    top = ProjectFactory(slug="top")
    edge(top, chain[-1])
    other_root = SystemFactory(name="Mail")
    mail_app = ProjectFactory(slug="mail-app")
    edge(mail_app, other_root)

    impacts = by_slug(selectors.impacted_projects_for([chain[0], other_root]))

    assert impacts["top"].path == ("S5", "S4", "S3", "S2", "S1", "S0")
    assert impacts["mail-app"].path == ("Mail",)
    assert selectors.impacted_projects_for([]) == []


def test_cycle_is_refused_naming_the_cycle():
    sso, directory = SystemFactory(name="SSO"), SystemFactory(name="Directory")
    dependency_add(actor=None, source_system=sso, target_system=directory)

    with pytest.raises(ValidationError) as excinfo:
        dependency_add(actor=None, source_system=directory, target_system=sso)

    assert excinfo.value.message_dict["target_system"] == [
        "This dependency would close a cycle: Directory → SSO → Directory."
    ]
    assert Dependency.objects.count() == 1


def test_longer_cycle_is_named_in_full_and_nothing_is_written():
    a, b, c = SystemFactory(name="A"), SystemFactory(name="B"), SystemFactory(name="C")
    dependency_add(actor=None, source_system=a, target_system=b)
    dependency_add(actor=None, source_system=b, target_system=c)

    with pytest.raises(ValidationError, match="C → A → B → C"):
        dependency_add(actor=None, source_system=c, target_system=a)
    assert Dependency.objects.count() == 2


def test_sql_in_memory_search_and_closure_agree_on_a_random_graph():
    rng = random.Random(7)
    systems = [SystemFactory() for _ in range(40)]
    # Edges only from higher to lower index: a DAG with diamonds and mixed criticality.
    for i, system in enumerate(systems[1:], start=1):
        for target in rng.sample(systems[:i], k=min(i, rng.randint(1, 3))):
            edge(system, target, rng.choice([HARD, HARD, SOFT]))
    for _ in range(60):
        edge(ProjectFactory(), rng.choice(systems), rng.choice([HARD, SOFT]))
    for seeds in ([systems[0]], [systems[3], systems[10]], [systems[-1]]):
        ids = [s.pk for s in seeds]
        sql = selectors._impacted_projects_sql(ids)
        python = breadth_first_impact(ids)
        assert sql == python
        assert selectors.impacted_projects_for(ids) == sql
        assert sql, "the random graph should touch some projects"


def breadth_first_impact(system_ids: list[int]) -> list[ImpactedProject]:
    """The reference the recursive query is checked against: the same breadth-first search,
    level by level in memory."""
    dependents: dict[int, list[tuple[int, bool]]] = {}
    for source, target, criticality in Dependency.objects.filter(
        source_system__isnull=False
    ).values_list("source_system_id", "target_system_id", "criticality"):
        dependents.setdefault(target, []).append(
            (source, criticality == Dependency.Criticality.HARD)
        )
    seeds = sorted(set(ITSystem.objects.filter(pk__in=system_ids).values_list("pk", flat=True)))
    # node -> (depth, hard, parent)
    reached: dict[int, tuple[int, bool, int | None]] = {seed: (0, True, None) for seed in seeds}
    frontier = seeds
    depth = 0
    while frontier:
        depth += 1
        best: dict[int, tuple[bool, int]] = {}
        for parent in frontier:
            parent_hard = reached[parent][1]
            for source, edge_hard in dependents.get(parent, ()):
                if source in reached:
                    continue
                candidate = (parent_hard and edge_hard, parent)
                current = best.get(source)
                # Prefer hard, then the lowest parent id: the same tie-break as the SQL.
                if current is None or (candidate[0], -candidate[1]) > (current[0], -current[1]):
                    best[source] = candidate
        for source, (hard, parent) in best.items():
            reached[source] = (depth, hard, parent)
        frontier = sorted(best)
    names = dict(ITSystem.objects.filter(pk__in=reached).values_list("pk", "name"))

    def path_from(node: int) -> tuple[int, ...]:
        ids = []
        current: int | None = node
        while current is not None:
            ids.append(current)
            current = reached[current][2]
        return tuple(ids)

    chosen: dict[int, tuple[tuple[int, bool, int], str, str, int]] = {}
    for project_id, name, slug, target, criticality in Dependency.objects.filter(
        source_project__isnull=False, target_system_id__in=list(reached)
    ).values_list(
        "source_project_id",
        "source_project__name",
        "source_project__slug",
        "target_system_id",
        "criticality",
    ):
        depth_of, hard_of, _parent = reached[target]
        hard = hard_of and criticality == Dependency.Criticality.HARD
        rank = (depth_of, not hard, target)
        if project_id not in chosen or rank < chosen[project_id][0]:
            chosen[project_id] = (rank, name, slug, target)
    result = []
    for project_id in sorted(chosen):
        (_depth, not_hard, target), name, slug, _ = chosen[project_id]
        ids = path_from(target)
        result.append(
            ImpactedProject(
                project_id=project_id,
                project_name=name,
                project_slug=slug,
                system_ids=ids,
                path=tuple(names[i] for i in ids),
                all_hard=not not_hard,
            )
        )
    return result
