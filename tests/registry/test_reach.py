"""The closure (`registry.reach`) says what the recursive search over the edges says, after any
sequence of edge writes, including two written at the same moment on two connections."""

import contextlib
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from registry import selectors, services
from registry.models import Dependency, ITSystem, ProjectReach, SystemReach
from registry.reach import reach_rebuild
from tests.factories import ProjectFactory, SystemFactory

HARD, SOFT = Dependency.Criticality.HARD, Dependency.Criticality.SOFT
SYSTEMS, PROJECTS = 7, 4

# One operation on the graph: (kind, a, b, hard). Indexes are taken modulo what exists.
operations = st.lists(
    st.tuples(
        st.sampled_from(["system_edge", "system_edge", "project_edge", "remove", "flip", "delete"]),
        st.integers(0, 40),
        st.integers(0, 40),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)

# No shrinking: a graph drawn from a seeded Random does not shrink, and a failure would spend
# minutes of CI trying; the falsifying seed and operations are printed as they are.
hypothesis_settings = settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class _Rollback(Exception):
    pass


def reaches(source: int, target: int) -> bool:
    """Whether `source` depends on `target` through the edges (the reference, not the
    closure)."""
    depends_on: dict[int, list[int]] = {}
    for s, t in Dependency.objects.filter(source_system__isnull=False).values_list(
        "source_system_id", "target_system_id"
    ):
        depends_on.setdefault(s, []).append(t)
    seen, stack = {source}, [source]
    while stack:
        for nxt in depends_on.get(stack.pop(), ()):
            if nxt == target:
                return True
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def apply(operation, systems, projects, *, check_cycles: bool = True) -> None:
    kind, a, b, hard = operation
    criticality = HARD if hard else SOFT
    # Fresh instances: a delete clears the pk of the instance it was given, which two threads
    # must not share.
    live = list(ITSystem.objects.filter(pk__in=[s.pk for s in systems]).order_by("pk"))
    if not live:
        return
    if kind == "system_edge":
        source, target = live[a % len(live)], live[b % len(live)]
        if Dependency.objects.filter(source_system=source, target_system=target).exists():
            return
        closes_cycle = source == target or reaches(target.pk, source.pk)
        try:
            services.dependency_add(
                actor=None, source_system=source, target_system=target, criticality=criticality
            )
        except ValidationError as refused:
            assert closes_cycle or not check_cycles, refused
        else:
            assert not closes_cycle or not check_cycles
    elif kind == "project_edge":
        project, target = projects[a % len(projects)], live[b % len(live)]
        if not Dependency.objects.filter(source_project=project, target_system=target).exists():
            services.dependency_add(
                actor=None, source_project=project, target_system=target, criticality=criticality
            )
    else:
        edges = list(Dependency.objects.order_by("pk"))
        if kind == "remove" and edges:
            services.dependency_remove(actor=None, dependency=edges[a % len(edges)])
        elif kind == "flip" and edges:
            edge = edges[a % len(edges)]
            flipped = SOFT if edge.criticality == HARD else HARD
            services.dependency_update(actor=None, dependency=edge, criticality=flipped)
        elif kind == "delete" and b % 3 == 0:  # now and then: it empties the graph fast
            services.system_delete(actor=None, system=live[a % len(live)])


def closure_rows() -> tuple[set, set]:
    return (
        set(SystemReach.objects.values_list("system", "dependent", "depth", "all_hard", "via")),
        set(
            ProjectReach.objects.values_list(
                "system", "project", "depth", "all_hard", "entry", "project_name", "project_slug"
            )
        ),
    )


def assert_closure_is_exact() -> None:
    """Impact from the closure equals the recursive search, seed by seed and for all seeds at
    once; and the closure kept edge by edge equals the closure rebuilt from scratch."""
    ids = sorted(ITSystem.objects.values_list("pk", flat=True))
    for seeds in [[i] for i in ids] + [ids, ids[::2]]:
        assert selectors.impacted_projects_for(seeds) == selectors._impacted_projects_sql(seeds)
    kept = closure_rows()
    reach_rebuild()
    assert closure_rows() == kept


@pytest.mark.django_db
@hypothesis_settings
@given(rng=st.randoms(use_true_random=False), operations=operations)
def test_closure_equals_the_search_after_any_edge_writes(rng, operations):
    """A random acyclic graph (each system on 1–3 of those made before it, three edges in four
    hard: diamonds and ties at every depth), then random writes."""
    try:
        with transaction.atomic():
            systems = [SystemFactory() for _ in range(SYSTEMS)]
            projects = [ProjectFactory() for _ in range(PROJECTS)]
            for index, source in enumerate(systems[1:], start=1):
                for target in rng.sample(systems[:index], k=min(index, rng.randint(1, 3))):
                    services.dependency_add(
                        actor=None,
                        source_system=source,
                        target_system=target,
                        criticality=rng.choice([HARD, HARD, HARD, SOFT]),
                    )
            for project in projects:
                for target in rng.sample(systems, k=rng.randint(1, 3)):
                    services.dependency_add(
                        actor=None,
                        source_project=project,
                        target_system=target,
                        criticality=rng.choice([HARD, HARD, HARD, SOFT]),
                    )
            for operation in operations:
                apply(operation, systems, projects)
            assert_closure_is_exact()
            raise _Rollback
    except _Rollback:
        pass


@pytest.mark.django_db
def test_impact_shows_a_project_renamed_by_any_path():
    """The closure rows carry the names impact shows: a rename through the service or straight
    in SQL (the admin, an import) is what the next impact says."""
    base, middle = SystemFactory(), SystemFactory()
    services.dependency_add(actor=None, source_system=middle, target_system=base)
    shop, wiki = ProjectFactory(name="Shop", slug="shop"), ProjectFactory(name="Wiki", slug="wiki")
    for project in (shop, wiki):
        services.dependency_add(actor=None, source_project=project, target_system=middle)
    shop.name, shop.slug = "Web shop", "web-shop"
    shop.save(update_fields=["name", "slug"])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_project SET name = 'Team wiki' WHERE id = %s", [wiki.pk])
    shown = {(i.project_name, i.project_slug) for i in selectors.impacted_projects_for([base])}
    assert shown == {("Web shop", "web-shop"), ("Team wiki", "wiki")}
    assert shown == {
        (i.project_name, i.project_slug) for i in selectors._impacted_projects_sql([base.pk])
    }


@pytest.mark.django_db
def test_the_path_shown_is_the_searched_one_on_a_wide_random_graph():
    """A bigger graph than hypothesis draws: layered, with diamonds, hubs and soft edges."""
    import random

    rng = random.Random(11)
    layers = [[SystemFactory() for _ in range(n)] for n in (2, 5, 9, 14)]
    for depth, layer in enumerate(layers[1:], start=1):
        below = [s for lower in layers[:depth] for s in lower]
        for system in layer:
            for target in rng.sample(below, k=min(len(below), rng.randint(1, 4))):
                services.dependency_add(
                    actor=None,
                    source_system=system,
                    target_system=target,
                    criticality=rng.choice([HARD, HARD, SOFT]),
                )
    everything = [s for layer in layers for s in layer]
    for _ in range(40):
        services.dependency_add(
            actor=None,
            source_project=ProjectFactory(),
            target_system=rng.choice(everything),
            criticality=rng.choice([HARD, SOFT]),
        )
    assert_closure_is_exact()
    services.system_delete(actor=None, system=layers[1][0])
    assert_closure_is_exact()


@pytest.mark.django_db(transaction=True)
@settings(hypothesis_settings, max_examples=8)
@given(first=operations, second=operations)
def test_edges_written_at_once_on_two_connections_leave_the_closure_exact(first, second):
    """Each thread writes through the services on its own connection, under the graph lock;
    whatever order the lock gives them, the closure afterwards is the one rebuilt from the
    edges."""
    made = [SystemFactory() for _ in range(SYSTEMS)]
    projects = [ProjectFactory() for _ in range(PROJECTS)]
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def write(ops):
        systems = list(ITSystem.objects.filter(pk__in=[s.pk for s in made]))
        try:
            barrier.wait(timeout=30)
            for operation in ops:
                # The other thread may have got there first: a cycle, an edge already gone.
                with contextlib.suppress(
                    ValidationError, Dependency.DoesNotExist, ITSystem.DoesNotExist
                ):
                    apply(operation, systems, projects, check_cycles=False)
        except BaseException as exc:  # noqa: BLE001 — reported by the test below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(ops,)) for ops in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a writer is stuck"
    assert not failures, failures
    try:
        with transaction.atomic():
            assert_closure_is_exact()
            raise _Rollback
    except _Rollback:
        pass
    ITSystem.objects.all().delete()
    for project in projects:
        project.delete()


# --- writes from instances read before another writer changed the graph ---------------------------
# What the concurrent test above found (a self-edge on a system the other thread had deleted:
# its cycle message looked up the name of a system that was gone): each write is given rows read
# before it took the graph lock, and must answer for what is there once it has it.


@pytest.mark.django_db
@pytest.mark.parametrize("end", ["target", "source", "both"])
def test_an_edge_to_or_from_a_system_deleted_meanwhile_is_refused_naming_it(end):
    kept, gone = SystemFactory(name="Kept"), SystemFactory(name="Gone")
    stale = ITSystem.objects.get(pk=gone.pk)  # read by the request before the other writer
    services.system_delete(actor=None, system=gone)
    source, target = {"target": (kept, stale), "source": (stale, kept), "both": (stale, stale)}[end]
    with pytest.raises(ValidationError) as refused:
        services.dependency_add(actor=None, source_system=source, target_system=target)
    field = "source_system" if end == "source" else "target_system"
    assert refused.value.message_dict == {field: ["This IT system was deleted meanwhile."]}
    assert not Dependency.objects.exists()
    assert_closure_is_exact()


@pytest.mark.django_db
def test_an_edge_from_a_project_deleted_meanwhile_is_refused_naming_it():
    system, project = SystemFactory(), ProjectFactory()
    stale = type(project).objects.get(pk=project.pk)
    services.project_delete(actor=None, project=project)
    with pytest.raises(ValidationError) as refused:
        services.dependency_add(actor=None, source_project=stale, target_system=system)
    assert refused.value.message_dict == {"source_project": ["This project was deleted meanwhile."]}
    assert not Dependency.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_edge_removed_meanwhile_is_not_written_back_by_a_change_to_it(monkeypatch):
    base, app = SystemFactory(), SystemFactory()
    edge = services.dependency_add(actor=None, source_system=app, target_system=base)
    stale = Dependency.objects.get(pk=edge.pk)
    # Another writer, on its own connection, removes it between this change's read and its lock.
    real_lock = services.dependency_graph_lock

    def other_writer() -> None:
        try:
            services.dependency_remove(actor=None, dependency=Dependency.objects.get(pk=edge.pk))
        finally:
            connection.close()

    def lock_after_the_other_writer() -> None:
        monkeypatch.setattr(services, "dependency_graph_lock", real_lock)
        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join(30)
        real_lock()

    monkeypatch.setattr(services, "dependency_graph_lock", lock_after_the_other_writer)
    with pytest.raises(ValidationError, match="removed meanwhile"):
        services.dependency_update(actor=None, dependency=stale, criticality=SOFT)
    assert not Dependency.objects.exists()
    assert_closure_is_exact()


@pytest.mark.django_db
def test_removing_an_edge_or_deleting_a_system_another_writer_removed_records_it_once():
    from registry.models import AuditEntry

    base, app = SystemFactory(), SystemFactory()
    edge = services.dependency_add(actor=None, source_system=app, target_system=base)
    for stale in (Dependency.objects.get(pk=edge.pk), Dependency.objects.get(pk=edge.pk)):
        services.dependency_remove(actor=None, dependency=stale)
    gone = [ITSystem.objects.get(pk=app.pk), ITSystem.objects.get(pk=app.pk)]
    for stale in gone:
        services.system_delete(actor=None, system=stale)
    deletes = AuditEntry.objects.filter(action=AuditEntry.Action.DELETE)
    assert sorted(deletes.values_list("object_type", "object_id")) == [
        ("registry.dependency", str(edge.pk)),
        ("registry.itsystem", str(app.pk)),
    ]
    assert_closure_is_exact()
