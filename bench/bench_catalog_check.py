"""Checking a Backstage catalog: the dry run of a 5,000-entity, 1.6 MB `catalog-info.yaml`, which
must answer well inside gunicorn's timeout (the target: under 10 s).

The catalog (`catalog_text`, seeded, so every run checks the same file): 1,000 users, 100 groups
(their members), 400 resources (a type, an owning group, contacts, `dependsOn` lower resources)
and 3,500 components (title, description, owner, owners and tier annotations, links, 1–4
`dependsOn`, some soft), 1.6 MB in all. It is checked twice, against an
empty registry (everything created) and after it was imported (everything unchanged), each the
median of a few runs, beside the baseline of the same run: libyaml's C loader parsing the same
text into Python objects (`yaml.load_all` with `CSafeLoader`), the least any check must do.

    python -m bench.bench_catalog_check
"""

from __future__ import annotations

import random

from bench import django_setup, median_ms, row

USERS, GROUPS, RESOURCES, COMPONENTS = 1_000, 100, 400, 3_500
RUNS = 3
WARMUPS = 1
TARGET_MS = 10_000.0
WORDS = [
    "ledger",
    "payroll",
    "people",
    "badge",
    "travel",
    "expense",
    "lunch",
    "rooms",
    "print",
    "wiki",
    "build",
    "deploy",
    "search",
    "metrics",
    "archive",
    "report",
    "invoice",
    "roster",
    "shift",
    "parking",
    "library",
]


def catalog_text(*, seed: int = 7, scale: float = 1.0) -> str:
    """A 1.6 MB catalog of 5,000 entities at scale 1.0 (fewer, in proportion, below)."""
    rng = random.Random(seed)
    users, groups = int(USERS * scale), max(1, int(GROUPS * scale))
    resources, components = max(1, int(RESOURCES * scale)), int(COMPONENTS * scale)
    out: list[str] = []

    def doc(text: str) -> None:
        out.append("---\napiVersion: backstage.io/v1alpha1\n" + text)

    for u in range(users):
        groups_of = sorted({rng.randrange(groups) for _ in range(rng.randint(1, 2))})
        doc(
            f"kind: User\nmetadata:\n  name: user{u}\nspec:\n  profile:\n"
            f"    displayName: User Number {u}\n    email: user{u}@example.com\n"
            f"  memberOf: [{', '.join(f'group{g}' for g in groups_of)}]\n"
        )
    for g in range(groups):
        doc(
            f"kind: Group\nmetadata:\n  name: group{g}\n  title: Group {g}\n"
            f'  annotations:\n    steward/it-team: "{"true" if g % 4 == 0 else "false"}"\n'
            f"spec:\n  type: team\n  profile:\n    displayName: Group number {g}\n"
            f"  children: []\n"
        )
    kinds = ("postgres", "vm", "s3-bucket", "ldap", "mail", "network", "other")
    for r in range(resources):
        lower = sorted({rng.randrange(r) for _ in range(rng.randint(1, 3))}) if r > 10 else []
        depends = ", ".join(f"resource:res{t}" for t in lower)
        doc(
            f"kind: Resource\nmetadata:\n  name: res{r}\n  title: Resource {r}\n"
            f"  description: Shared {rng.choice(WORDS)} service {r}\n"
            f"  annotations:\n    steward/contacts: user{rng.randrange(users)}\n"
            f"spec:\n  type: {rng.choice(kinds)}\n  owner: group:group{rng.randrange(0, groups, 4)}\n"
            f"  dependsOn: [{depends}]\n"
        )
    lifecycles = ("production", "experimental", "deprecated")
    for c in range(components):
        targets = sorted({rng.randrange(resources) for _ in range(rng.randint(1, 4))})
        soft = [t for t in targets if rng.random() < 0.25]
        words = " ".join(rng.choice(WORDS) for _ in range(2))
        annotations = f"\n    steward/owners: user{rng.randrange(users)}"
        if soft:
            annotations += "\n    steward/soft-dependencies: " + ", ".join(
                f"resource:res{t}" for t in soft
            )
        doc(
            f"kind: Component\nmetadata:\n  name: app{c}\n  title: Application {c}\n"
            f"  description: The {words} app\n"
            f"  annotations:{annotations}\n"
            f"  links: [{{url: 'https://app{c}.example.com/'}}]\n"
            f"spec:\n  lifecycle: {rng.choice(lifecycles)}\n"
            f"  owner: group:group{rng.randrange(groups)}\n"
            f"  dependsOn: [{', '.join(f'resource:res{t}' for t in targets)}]\n"
        )
    return "".join(out)


def _empty_registry() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE registry_person, registry_team, registry_itsystem, registry_project, "
            "registry_auditentry, auth_user RESTART IDENTITY CASCADE"
        )


def _bare_parse(text: str) -> int:
    import yaml

    return sum(1 for _ in yaml.load_all(text, Loader=yaml.CSafeLoader))


def run() -> list[dict]:
    django_setup()
    from imports.backstage.apply import catalog_import

    text = catalog_text()
    size = len(text.encode())
    entities = USERS + GROUPS + RESOURCES + COMPONENTS

    def check() -> dict:
        return catalog_import(actor=None, text=text, dry_run=True)

    _empty_registry()
    baseline = median_ms(lambda: _bare_parse(text), runs=RUNS, warmups=WARMUPS)
    created = check()["counts"]
    if created["Component"]["created"] != COMPONENTS:
        raise AssertionError(f"the dry run against an empty registry said {created}")
    empty = median_ms(check, runs=RUNS, warmups=0)
    catalog_import(actor=None, text=text)
    unchanged = check()["counts"]
    if unchanged["Component"]["unchanged"] != COMPONENTS:
        raise AssertionError(f"the dry run after the import said {unchanged}")
    imported = median_ms(check, runs=RUNS, warmups=0)
    _empty_registry()
    note = (
        f"{entities:,} entities, {size / 1e6:.1f} MB; median of {RUNS}; "
        f"baseline: CSafeLoader parse alone; target < {TARGET_MS / 1000:.0f} s"
    )
    return [
        row(
            "catalog check: new registry",
            empty,
            "ms",
            baseline=baseline,
            ratio=baseline / empty,
            note=note,
        ),
        row(
            "catalog check: all unchanged",
            imported,
            "ms",
            baseline=baseline,
            ratio=baseline / imported,
            note=f"{'within' if max(empty, imported) < TARGET_MS else 'OVER'} the target",
        ),
    ]


if __name__ == "__main__":
    from bench.run_all import print_table

    print_table(run())
