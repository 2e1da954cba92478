import random

import pytest
from django.core.exceptions import ValidationError

from registry import selectors
from registry.models import Dependency
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


def test_sql_and_in_memory_search_agree_on_a_random_graph():
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
        python = selectors._impacted_projects_python(ids)
        assert sql == python
        assert sql, "the random graph should touch some projects"
