from django.db import migrations


class Migration(migrations.Migration):
    """PostgreSQL's JIT compiler is for long analytic queries. Steward's are short, but the
    planner's cost guesses for the search's trigram functions and the on-call rules' array
    subqueries cross `jit_above_cost`, and compiling took 30-300 ms of queries that run in less
    (EXPLAIN ANALYZE on the 10,000-project benchmark registry). Off for the database, as the
    search's trigram threshold is (PgBouncer passes no startup options), and for this session."""

    dependencies = [
        ("registry", "0008_merge_search_people_and_integration_keys"),
    ]

    operations = [
        migrations.RunSQL(
            sql=[
                "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET jit = off', "
                "current_database()); END $$",
                "SET jit = off",
            ],
            reverse_sql=[
                "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET jit', "
                "current_database()); END $$",
                "RESET jit",
            ],
        ),
    ]
