"""Vigil's checks: pure functions over statistics, one folder per family.

- ``checks.registry.CHECKS``: every check by name (CheckSpec: family, scope, what it reads,
  the subjects it applies to, default parameters). Config enables checks and overrides
  parameters (``checks:`` and ``features[].checks``).
- Families: ``input_quality``, ``unit_change``, ``feature_drift``, ``prediction``,
  ``performance``. A check is ``(reference, current, params) -> CheckResult``.
- ``checks.calibration``: bounds from reference chunks, a false-alarm budget and a
  minimum effect size.
- ``checks.runner.run_checks``: loads statistics through ``profilers.stats_store``, runs
  every enabled check per subject and batch, stores ``check_results``.
- ``checks.queries``: named reads of ``check_results`` for pages and the CLI.
- ``checks.report``: Evidently drill-down report of a batch (HTML).
Every check name has ``runbooks/<name>.md``.
"""
