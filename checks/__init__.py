"""Vigil's checks: pure functions over statistics, one folder per family.

- ``checks.spec``: the contract (``CheckSpec``: family from ``Family``, typed inputs, params
  schema, model kinds, context the runner fills, runbook).
- ``checks.registry.CHECKS``: every warehouse check by name; ``HEARTBEATS`` the wall-clock
  health checks. Config enables checks and overrides parameters (``checks:`` and
  ``features[].checks``), validated by ``validate_checks_config``.
- Families: ``checks.spec.Family``. A check is ``(reference, current, params) -> CheckResult``.
- ``checks.calibration``: bounds from reference chunks, a false-alarm budget and a
  minimum effect size.
- ``checks.runner.run_checks``: loads statistics through ``profilers.stats_store``, runs
  every enabled check per subject and batch, stores ``check_results``.
- ``checks.queries``: named reads of ``check_results`` for pages and the CLI.
- ``checks.report``: Evidently drill-down report of a batch (HTML).
Every check name has ``runbooks/<name>.md``.
"""
