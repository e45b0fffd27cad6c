"""Incident response: from a failed check to a resolved incident, a postmortem and a model decision.

- alerts.py      check results -> alerts (Prometheus alerting-rule lifecycle, per event-time batch)
- labels.py      alert labels from a result and the config's lineage (identity: check, model, subject)
- inhibition.py  a broken upstream column suppresses the downstream alerts it explains ("inhibited by")
- silences.py    matchers, a required end and comment; expired silences stay visible
- notify.py      inhibit -> silence -> group -> dedup (notification log) -> send (webhook) -> record
- heartbeat.py   staleness of the check cycle and health of the scoring job, as alerts
- incidents.py   incidents, roles, status, the append-only timeline
- postmortem.py  SRE-template postmortems, prefilled, with revisions and action items
- decisions.py   rules that recommend fix monitoring / fix upstream / roll back / retrain / hold
- shadow.py      re-scoring the live test set with registered versions
- queries.py     named reads for the app and CLI; cli.py the `vigil` subcommands
"""
