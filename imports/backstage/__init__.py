"""Backstage catalog (`catalog-info.yaml`) import and export.

Mapping (apiVersion ``backstage.io/v1alpha1``; ``backstage.io/v1beta1`` is read as well)
------------------------------------------------------------------------------------------
- ``User`` → a Django user (created with an unusable password) and its Person: ``metadata.name``
  is the username, ``spec.profile.displayName`` the display name, ``spec.profile.email`` the
  email, the annotation ``steward/time-zone`` the IANA time zone (absent: left as it is, UTC for a
  new person). ``spec.memberOf`` adds the person to those groups.
- ``Group`` → a Team: ``metadata.name`` is the slug, ``spec.profile.displayName`` (else
  ``metadata.title``, else the name) the name, ``spec.members`` (users) the members, together with
  the users of the file whose ``memberOf`` names it. Annotation ``steward/it-team: "true"`` makes
  it an IT team (absent: left as it is).
- ``Resource`` → an IT system: ``spec.type`` → kind (the kind's own value or a known alias, such
  as ``postgres`` → database; anything else → other); ``spec.owner`` ``group:x`` → its team,
  ``user:x`` → a contact (and no team); annotation ``steward/contacts`` (comma-separated users)
  adds contacts; ``spec.dependsOn`` ``resource:x`` → an edge to that system.
- ``Component`` → a project: ``metadata.name`` → slug, ``metadata.title`` (else the name) → name,
  ``spec.owner`` ``group:x`` (or a bare name) → its team, ``user:x`` → an owner (and no team);
  annotation ``steward/owners`` adds owners; ``spec.lifecycle`` production / experimental /
  deprecated → support tier it_supported / experimental / retired, unless the annotation
  ``steward/support-tier`` names the tier exactly; ``metadata.links[].url`` → the project's URLs
  (present, even empty: exactly those; absent: left as they are); ``spec.dependsOn``
  ``resource:x`` → an edge to that IT system.
- Namespaces: an entity of any namespace is read (``metadata.namespace``, a DNS-label-like name;
  absent: ``default``). A default-namespace entity's record is its name; another namespace's is
  its name too, unless that name is taken (by an entity of the same kind in another namespace of
  the file, or by a record already in Steward that did not come from it), when it is
  ``<name>-<namespace>`` and its display name, when the file gives none, ``<name> (<namespace>)``.
  Where each such record came from is kept (``imports.models.CatalogEntity``), so a re-import
  finds it and an export writes it back in its namespace. References take every Backstage form:
  ``kind:namespace/name``, ``namespace/name``, ``name`` (the default namespace), kinds in any case.
- Edges are hard, except those listed in the annotation ``steward/soft-dependencies``.
- A Component's or Resource's edges are exactly its ``dependsOn``: an edge left out is removed.
  Entities that are not in the file are never changed (a ``memberOf`` naming a group that is not in
  the file adds the person to that team, and removes nobody).
- Owners and contacts are only ever added, never removed, by an import: taking people off a
  project is done in Steward, where the last owner is protected.

Refused (every problem is listed, nothing is written): YAML syntax errors (with the line), a
document that is not a mapping, a wrong apiVersion, a missing ``metadata.name``, an invalid name
(slug: letters, digits, ``-`` and ``_``; usernames as Django allows them), an invalid namespace,
the same entity twice (same kind, namespace and name), a default-namespace name that a record
imported from another namespace already holds, a reference to an entity neither in the file nor in Steward,
a reference of the wrong kind, an unknown lifecycle or tier, an invalid time zone, email or URL,
a name already used by another record, a dependency cycle (counting the edges already in Steward),
more than ``MAX_BYTES`` or ``MAX_ENTITIES``. Other kinds (API, System, Domain, Location, Template)
and ``component:`` entries in ``dependsOn`` are skipped with a warning.

Modules: ``format`` (the YAML, entities and references), ``plan`` (the checks: ``catalog_plan``),
``apply`` (``catalog_import``) and ``export`` (``catalog_export``), on the shared engine in
``imports.engine``.

``catalog_plan`` only reads; ``catalog_import`` takes the dependency-graph lock, plans again and
applies everything in one transaction, saving only what differs: an unchanged file writes nothing,
no audit entry, no new ``updated_at``. ``catalog_export`` writes the registry in the same shapes;
its output imports back unchanged.
"""
