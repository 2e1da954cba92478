"""CSV import and export of the registry's projects, with their people and dependencies.

The format
----------
One file, one project per row, UTF-8 (a byte-order mark is accepted and ignored), comma
separated, quoted the usual way (RFC 4180). The first row is the header; column names are
case-insensitive and may come in any order::

    slug,name,description,support_tier,team,help_channel,runbook_url,
    owners,maintainers,backups,aliases,urls,depends_on

- ``slug``, ``name`` and ``owners`` are required; every other column is optional. A column left
  out of the file leaves that field of an existing project as it is (a new project gets the
  default); a column that is there but empty in a row means empty (no team, no backups, no
  dependencies...). An empty ``support_tier`` means the default, ``side_project``.
- ``support_tier``: one of ``it_supported``, ``side_project``, ``experimental``, ``retired``.
- ``team``: a team's slug.
- List columns are ``;``-separated: ``owners``, ``maintainers``, ``backups`` (people, by
  username or by email; the order is kept), ``aliases``, ``urls`` (http/https) and
  ``depends_on``: IT system slugs, each optionally suffixed ``:hard`` (the default) or ``:soft``.
  A value that itself holds ``;`` cannot be written in a list column.
- Unknown people are a problem: an import never creates accounts.
- Existing projects are matched by slug and updated; the row's lists replace what the project
  had (roles, aliases, URLs, and its edges to IT systems: an edge left out is removed; an edge
  kept keeps its note). A row that matches the project exactly changes nothing: no write, no
  audit entry, no new ``updated_at``. Projects absent from the file are left alone.
- Blank lines are skipped. A row counts as the spreadsheet counts it: the header is row 1.
- Cells starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are written by the
  export with a leading ``'`` so that a spreadsheet shows them as text instead of running them as
  formulas (CSV injection); the import removes that one quote again, so an export imports back
  unchanged.
- Limits: 5 MB and 20,000 rows per file.

IT systems and the edges between them are not part of the file: they are managed by IT in the
registry itself, and a project row can only point at systems that exist.

Checking and importing
----------------------
Modules: ``format`` (columns, cells, reading the file), ``plan`` (``registry_csv_plan``),
``apply`` (``registry_csv_import``) and ``export`` (``registry_csv_export``), on the shared engine
in ``imports.engine``.

``registry_csv_plan`` reads every row and collects every problem (row, column, value, reason)
before anything is written; ``registry_csv_import`` writes only when there is none, all rows in
one transaction (all or nothing), and with ``dry_run=True`` returns the plan and writes nothing.

Who may import: IT staff and admins, any row. Anyone else registered as a person may import rows
for projects they may edit (owners and maintainers) and rows for new projects that list them
among the owners; any other row is a permission problem, and the whole file is refused.
"""
