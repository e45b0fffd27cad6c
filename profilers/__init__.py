"""Vigil's profilers: landing files -> DuckDB raw tables -> per-batch statistics.

- ``profilers.ingest.ingest_all``: every configured source (prediction log and ETL
  tables; Parquet, CSV, JSON Lines) loaded exactly once by content sha256, one
  transaction per file, replacements of changed files, schema changes recorded,
  bad files quarantined (``profilers.quarantine``: list, show, retry).
- ``profilers.reference.ensure_reference``: whole-reference stats with histogram bin
  edges, and calibration chunks; recomputed only when the reference changes.
- ``profilers.profile.profile_batches``: column, table and performance stats of the dirty
  batches in DuckDB SQL (``column_sql`` for the column aggregates, ``performance`` for the
  live test set).
- ``profilers.stats_store``: typed readers the checks use, and named queries for pages.
- ``profilers.whylogs_profiles``: whylogs profile per batch off the critical path,
  weekly roll-ups, export, summary.
- ``profilers.cli.COMMANDS`` (the ``vigil.commands`` entry point): ``vigil ingest``, ``vigil quarantine ...``, ``vigil profile ...``.
Types in ``profilers.stats_types``; tables in ``core/migrations/warehouse/2xx_*.sql``.
"""
