"""`vigil alerts|silence|incidents|postmortem|decisions ...` commands.

Declared in ``COMMANDS`` and contributed to `vigil` through the ``vigil.commands``
entry-point group (pyproject.toml). Handlers take the kernel's args (``args.load_config()``,
``args.json``, ``args.user``; ``args.clock`` when a test injects one) and return an exit
code: 0 ok, 2 usage error (message with a hint on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from core import exit_codes
from core.clock import Clock, SystemClock, parse_iso
from core.commands import READ, Arg, Command, Group, Opt
from core.config import VigilConfig
from core.stores import OpsStore
from incidents import queries
from incidents.incidents import STATUSES, IncidentError
from incidents.silences import SilenceError, add_silence, expire_silence, parse_end

# postmortem and decisions are imported inside their handlers: decisions pull in scikit-learn.

Handler = Callable[[argparse.Namespace], int]


class CommandError(ValueError):
    """A usage problem: printed with its hint, exit code 2."""


# ---- plumbing ---------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> VigilConfig:
    cfg: VigilConfig = args.load_config()
    return cfg


def _ops(args: argparse.Namespace) -> OpsStore:
    return OpsStore(_config(args).ops_path)


def _user(args: argparse.Namespace) -> str:
    return str(args.user)  # the acting user, resolved once by the command kernel


def _clock(args: argparse.Namespace) -> Clock:
    clock: Clock = getattr(args, "clock", None) or SystemClock()
    return clock


def _wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _guard(handler: Handler) -> Handler:
    """Bad input becomes exit code 2 with the message, which carries the hint."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (CommandError, IncidentError, SilenceError, KeyError, ValueError) as err:
            text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            print(f"vigil: {text}", file=sys.stderr)
            return exit_codes.USAGE

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def _fingerprint(ops: OpsStore, text: str) -> str:
    fp = queries.resolve_fingerprint(ops, text)
    if fp is None:
        raise CommandError(f"no alert matches {text!r} (hint: `vigil alerts list` shows fingerprints; a unique prefix is enough)")
    return fp


def _table(rows: list[dict[str, Any]], columns: list[str], empty: str) -> None:
    if not rows:
        print(empty)
        return
    widths = {c: max(len(c), *(len(str(r.get(c) if r.get(c) is not None else "")) for r in rows)) for c in columns}
    widths = {c: min(w, 48) for c, w in widths.items()}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            text = "" if v is None else str(v)
            cells.append(text[: widths[c]].ljust(widths[c]))
        print("  ".join(cells).rstrip())


# ---- alerts -----------------------------------------------------------------------------


def cmd_alerts_list(args: argparse.Namespace) -> int:
    cfg = _config(args)
    states = None if args.all else (args.state or ["pending", "firing"])
    rows = queries.alerts_with_incidents(
        OpsStore(cfg.ops_path), model=cfg.model.name, state=states, check=args.check, subject=args.subject, severity=args.severity
    )
    if _wants_json(args):
        _print_json(rows)
        return exit_codes.OK
    for r in rows:
        r["fp"] = r["fingerprint"][:10]
        r["note"] = r["inhibited_by_text"] or (f"silenced ({r['silenced_by']})" if r.get("silenced_by") and r["state"] == "firing" else "")
        if not r["note"] and r.get("possible_causes"):
            top = r["possible_causes"][0]
            r["note"] = f"possible cause: {top['check']} on {top['subject']}"
        r["acked"] = r.get("acked_by") or ""
    _table(rows, ["fp", "state", "severity", "check_name", "subject", "started_batch", "incident_id", "acked", "note"], "no alerts")
    return exit_codes.OK


def cmd_alerts_show(args: argparse.Namespace) -> int:
    ops = _ops(args)
    detail = queries.alert_detail(ops, _fingerprint(ops, args.fingerprint))
    assert detail is not None
    if _wants_json(args):
        _print_json(detail)
        return exit_codes.OK
    ann = detail["annotations"]
    print(f"{detail['check_name']} on {detail['subject']}  [{detail['state']}, {detail['severity']}]  {detail['fingerprint']}")
    print(f"  {ann.get('explanation', '')}")
    print(f"  value {ann.get('value')}  bounds [{ann.get('lower')}, {ann.get('upper')}]  batch {ann.get('batch')}")
    print(f"  started {detail['started_batch']}  fired {detail['fired_batch']}  resolved {detail['resolved_batch']}")
    if detail["inhibited_by_text"]:
        print(f"  {detail['inhibited_by_text']} ({detail['inhibited_by']})")
    if detail.get("possible_causes"):
        print("  possible causes (ranked; this alert notifies anyway):")
        for c in detail["possible_causes"]:
            print(f"    #{c['rank']} {c['check']} on {c['subject']} ({c['state']} from batch {c['started_batch']}): {c['explanation']} "
                  f"[value {c['value']}, bounds {c['lower']} .. {c['upper']}]")
    if detail.get("acked_by"):
        print(f"  acknowledged by {detail['acked_by']} at {detail['acked_at']}")
    for inc in detail["incidents"]:
        print(f"  incident {inc['incident_id']} [{inc['status']}, {inc['severity']}] {inc['title']}")
    print(f"  runbook: {detail['runbook']}")
    print("  history:")
    for e in detail["events"]:
        print(f"    {e['at']}  batch {e['batch'] or '-'}  {e['kind']}: {e['from_state']} -> {e['to_state']}")
    return exit_codes.OK


def cmd_alerts_ack(args: argparse.Namespace) -> int:
    ops = _ops(args)
    fp = _fingerprint(ops, args.fingerprint)
    queries.ack_alert(ops, _clock(args), fp, _user(args))
    if _wants_json(args):
        _print_json({"fingerprint": fp, "acked_by": _user(args)})
    else:
        print(f"alert {fp} acknowledged by {_user(args)}")
    return exit_codes.OK


def cmd_alerts_notifications(args: argparse.Namespace) -> int:
    rows = queries.notification_log(_ops(args), limit=args.limit)
    if _wants_json(args):
        _print_json(rows)
        return exit_codes.OK
    for r in rows:
        r["group"] = " ".join(f"{k}={v}" for k, v in r["group_key"].items())
        r["alerts"] = f"{len(r['firing'])} firing, {len(r['resolved'])} resolved"
        r["key"] = r.get("idempotency_key") or ""  # the same on every resend of one message
    _table(rows, ["at", "receiver", "group", "alerts", "status", "attempts", "key", "error"], "no notifications")
    return exit_codes.OK


# ---- silences ---------------------------------------------------------------------------


def cmd_silence_add(args: argparse.Namespace) -> int:
    clock = _clock(args)
    now = clock.now()
    if not args.ends:
        raise SilenceError("a silence needs an end: silences that never end hide problems (hint: --ends 2h or an ISO time)")
    starts = parse_iso(args.starts) if args.starts else None
    silence = add_silence(
        _ops(args), clock, matchers=args.match or [], ends_at=parse_end(args.ends, now), author=_user(args), comment=args.comment, starts_at=starts
    )
    if _wants_json(args):
        _print_json(silence.to_dict(now))
    else:
        print(f"silence {silence.silence_id} until {silence.to_dict(now)['ends_at']}: {', '.join(str(m) for m in silence.matchers)}")
    return exit_codes.OK


def cmd_silence_list(args: argparse.Namespace) -> int:
    rows = queries.silences(_ops(args), _clock(args), include_expired=not args.active)
    if _wants_json(args):
        _print_json(rows)
        return exit_codes.OK
    for r in rows:
        r["matchers"] = ", ".join(r["matchers"])
    _table(rows, ["silence_id", "state", "matchers", "starts_at", "ends_at", "author", "comment"], "no silences")
    return exit_codes.OK


def cmd_silence_expire(args: argparse.Namespace) -> int:
    clock = _clock(args)
    silence = expire_silence(_ops(args), clock, args.silence_id, _user(args))
    if _wants_json(args):
        _print_json(silence.to_dict(clock.now()))
    else:
        print(f"silence {silence.silence_id} expired by {_user(args)} (it stays listed)")
    return exit_codes.OK


# ---- incidents --------------------------------------------------------------------------


def cmd_incidents_list(args: argparse.Namespace) -> int:
    cfg = _config(args)
    statuses = args.status or (None if args.all else ["triage", "investigating", "mitigated"])
    rows = queries.list_incidents(OpsStore(cfg.ops_path), model=cfg.model.name, status=statuses)
    if _wants_json(args):
        _print_json(rows)
        return exit_codes.OK
    _table(rows, ["incident_id", "severity", "status", "opened_at", "commander", "alert_count", "title"], "no incidents")
    return exit_codes.OK


def cmd_incidents_show(args: argparse.Namespace) -> int:
    detail = queries.incident_detail(_ops(args), args.incident_id)
    if detail is None:
        raise CommandError(f"no incident {args.incident_id!r} (hint: `vigil incidents list --all` shows the ids)")
    if _wants_json(args):
        _print_json(detail)
        return exit_codes.OK
    print(f"{detail['incident_id']}  {detail['severity']}  {detail['status']}  {detail['title']}")
    print(f"  commander {detail['commander'] or '-'}  scribe {detail['scribe'] or '-'}  opened {detail['opened_at']} by {detail['opened_by']}")
    for status in STATUSES[1:]:
        if detail.get(f"{status}_at"):
            print(f"  {status} at {detail[f'{status}_at']}")
    print("  alerts:")
    for a in detail["alerts"]:
        root = f"  inhibited by {a['inhibited_by_check']} on {a['inhibited_by_subject']}" if a["inhibited_by"] else ""
        print(f"    {a['fingerprint'][:10]}  {a['state']:<8} {a['check_name']} on {a['subject']}{root}")
    print("  runbooks: " + ", ".join(detail["runbooks"]))
    print("  timeline:")
    for t in detail["timeline"]:
        print(f"    {t['at']}  {t['kind']:<12} {t['actor']:<10} {t['text']}")
    return exit_codes.OK


def cmd_incidents_open(args: argparse.Namespace) -> int:
    ops = _ops(args)
    cfg = _config(args)
    fps = [_fingerprint(ops, a) for a in (args.alert or [])]
    incident_id = queries.open_incident(
        ops, _clock(args), opened_by=_user(args), alert_fingerprints=fps, title=args.title, severity=args.severity, model=cfg.model.name
    )
    if _wants_json(args):
        _print_json({"incident_id": incident_id})
    else:
        print(f"incident {incident_id} opened")
    return exit_codes.OK


def cmd_incidents_status(args: argparse.Namespace) -> int:
    queries.change_status(_ops(args), _clock(args), args.incident_id, args.status, _user(args), args.note)
    if _wants_json(args):
        _print_json({"incident_id": args.incident_id, "status": args.status})
    else:
        print(f"incident {args.incident_id} is now {args.status}")
    return exit_codes.OK


def cmd_incidents_note(args: argparse.Namespace) -> int:
    queries.add_note(_ops(args), _clock(args), args.incident_id, _user(args), args.text)
    if _wants_json(args):
        _print_json({"incident_id": args.incident_id, "note": args.text})
    else:
        print(f"note added to {args.incident_id}")
    return exit_codes.OK


def cmd_incidents_roles(args: argparse.Namespace) -> int:
    queries.set_roles(_ops(args), _clock(args), args.incident_id, _user(args), commander=args.commander, scribe=args.scribe)
    if _wants_json(args):
        _print_json({"incident_id": args.incident_id, "commander": args.commander, "scribe": args.scribe})
    else:
        print(f"roles set on {args.incident_id}")
    return exit_codes.OK


# ---- postmortems ------------------------------------------------------------------------


def _warehouse(cfg: VigilConfig) -> Any:
    from core.stores import stores_for

    wh, _ = stores_for(cfg)
    return wh if cfg.warehouse_path.exists() else None


def cmd_postmortem_create(args: argparse.Namespace) -> int:
    from incidents.postmortem import create_postmortem

    cfg = _config(args)
    pm = create_postmortem(cfg, OpsStore(cfg.ops_path), _clock(args), args.incident_id, _user(args), wh=_warehouse(cfg))
    if _wants_json(args):
        _print_json(pm.to_dict())
    else:
        print(f"postmortem of {args.incident_id}: revision {pm.revision} (edit with `vigil postmortem edit {args.incident_id} FIELD TEXT`)")
    return exit_codes.OK


def cmd_postmortem_edit(args: argparse.Namespace) -> int:
    from incidents.postmortem import save_revision

    pm = save_revision(_ops(args), _clock(args), args.incident_id, {args.field: args.text}, _user(args), args.comment)
    if _wants_json(args):
        _print_json(pm.to_dict())
    else:
        print(f"postmortem of {args.incident_id}: saved revision {pm.revision}")
    return exit_codes.OK


def cmd_postmortem_revisions(args: argparse.Namespace) -> int:
    from incidents.postmortem import revisions

    rows = revisions(_ops(args), args.incident_id)
    if _wants_json(args):
        _print_json(rows)
    else:
        _table(rows, ["revision", "author", "saved_at", "comment"], "no postmortem yet")
    return exit_codes.OK


def cmd_postmortem_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from incidents.postmortem import export_markdown

    text = export_markdown(_ops(args), args.incident_id, args.revision)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        if _wants_json(args):
            _print_json({"incident_id": args.incident_id, "path": str(out.absolute()), "bytes": len(text)})
        else:
            print(f"postmortem of {args.incident_id} written to {out.absolute()}")
    elif _wants_json(args):
        _print_json({"incident_id": args.incident_id, "markdown": text})
    else:
        print(text, end="")
    return exit_codes.OK


def cmd_postmortem_action_add(args: argparse.Namespace) -> int:
    from incidents.postmortem import add_action_item

    item_id = add_action_item(
        _ops(args), _clock(args), args.incident_id, title=args.title, owner=args.owner, kind=args.type, due=args.due, author=_user(args)
    )
    if _wants_json(args):
        _print_json({"item_id": item_id})
    else:
        print(f"action item {item_id} added")
    return exit_codes.OK


def cmd_postmortem_actions(args: argparse.Namespace) -> int:
    from incidents.postmortem import action_items

    rows = action_items(_ops(args), args.incident_id)
    if _wants_json(args):
        _print_json(rows)
    else:
        _table(rows, ["item_id", "kind", "owner", "due", "status", "title"], "no action items")
    return exit_codes.OK


def cmd_postmortem_action_set(args: argparse.Namespace) -> int:
    from incidents.postmortem import update_action_item

    row = update_action_item(_ops(args), _clock(args), args.item_id, _user(args), status=args.status, owner=args.owner, due=args.due)
    if _wants_json(args):
        _print_json(row)
    else:
        print(f"action item {row['item_id']}: {row['status']}, {row['owner']}, due {row['due']}")
    return exit_codes.OK


# ---- decisions --------------------------------------------------------------------------


def _print_decision(args: argparse.Namespace, decision: Any) -> None:
    if _wants_json(args):
        _print_json(decision.to_dict())
        return
    target = f" -> v{decision.target_version}" if decision.target_version is not None else ""
    print(f"{decision.decision_id}  {decision.action}{target}  [{decision.state}]  incident {decision.incident_id}")
    for h in decision.history:
        print(f"  {h['at']}  {h['kind']:<12} {h['actor']:<10} {h['reason']}")


def cmd_decisions_recommend(args: argparse.Namespace) -> int:
    from incidents.decisions import recommend

    cfg = _config(args)
    decision = recommend(cfg, OpsStore(cfg.ops_path), _clock(args), args.incident_id, wh=_warehouse(cfg),
                         actor=_user(args))
    _print_decision(args, decision)
    return exit_codes.OK


def cmd_decisions_list(args: argparse.Namespace) -> int:
    from incidents.decisions import decisions_for

    rows = [d.to_dict() for d in decisions_for(_ops(args), args.incident_id)]
    if _wants_json(args):
        _print_json(rows)
    else:
        for r in rows:
            r["reason"] = r["history"][-1]["reason"]
        _table(rows, ["decision_id", "incident_id", "action", "state", "target_version", "reason"], "no decisions")
    return exit_codes.OK


def cmd_decisions_show(args: argparse.Namespace) -> int:
    from incidents.decisions import get_decision

    _print_decision(args, get_decision(_ops(args), args.decision_id))
    return exit_codes.OK


def cmd_decisions_approve(args: argparse.Namespace) -> int:
    from incidents.decisions import approve

    _print_decision(args, approve(_ops(args), _clock(args), args.decision_id, _user(args), args.reason or ""))
    return exit_codes.OK


def cmd_decisions_reject(args: argparse.Namespace) -> int:
    from incidents.decisions import reject

    _print_decision(args, reject(_ops(args), _clock(args), args.decision_id, _user(args), args.reason or ""))
    return exit_codes.OK


def cmd_decisions_carry_out(args: argparse.Namespace) -> int:
    from incidents.decisions import carry_out

    cfg = _config(args)
    decision = carry_out(
        cfg, OpsStore(cfg.ops_path), _clock(args), args.decision_id, _user(args), args.reason or "approved decision",
        candidate_version=args.candidate, wh=_warehouse(cfg),
    )
    _print_decision(args, decision)
    return exit_codes.OK


def cmd_decisions_reverse(args: argparse.Namespace) -> int:
    from incidents.decisions import reverse

    _print_decision(args, reverse(_ops(args), _clock(args), args.decision_id, _user(args), args.reason or "", cfg=_config(args)))
    return exit_codes.OK


# ---- declarations -----------------------------------------------------------------------

INCIDENT = Arg("incident_id", "INCIDENT")
FINGERPRINT = Arg("fingerprint", "FINGERPRINT", "fingerprint or a unique prefix")
DECISION = Arg("decision_id", "DECISION")


def _cmd(path: str, handler: Handler, action: str, help_text: str, *params: Arg | Opt) -> Command:
    return Command(path, _guard(handler), action, help_text, params)


COMMANDS = (
    Group("alerts", "alerts: list, show, acknowledge, notification log"),
    _cmd("alerts list", cmd_alerts_list, READ, "list active alerts (pending, firing) with incident and root cause",
         Opt("--state", multiple=True, choices=["inactive", "pending", "firing", "resolved"], help="repeatable"),
         Opt("--check"), Opt("--subject"), Opt("--severity", choices=["info", "warning", "critical"]),
         Opt("--all", is_flag=True, help="every state, resolved included")),
    _cmd("alerts show", cmd_alerts_show, READ, "one alert: annotations, batches, history, incidents, runbook",
         FINGERPRINT),
    _cmd("alerts ack", cmd_alerts_ack, "alerts.acknowledge", "acknowledge an alert (you are on it)", FINGERPRINT),
    _cmd("alerts notifications", cmd_alerts_notifications, READ, "the notification log, newest first",
         Opt("--limit", type=int, default=50)),

    Group("silence", "silences: mute matching alerts' notifications until an end time"),
    _cmd("silence add", cmd_silence_add, "silences.write", "add a silence (an end and a comment are required)",
         Opt("--match", multiple=True, metavar="MATCHER",
             help="name=value, name!=value, name=~regex, name!~regex (repeatable)"),
         Opt("--ends", metavar="WHEN", help="duration from now (2h, 1d) or ISO time"),
         Opt("--starts", metavar="ISO", help="start (default now)"),
         Opt("--comment", help="why (required)")),
    _cmd("silence list", cmd_silence_list, READ, "list silences, expired ones included",
         Opt("--active", is_flag=True, help="hide expired silences")),
    _cmd("silence expire", cmd_silence_expire, "silences.write", "end a silence now (it stays listed)",
         Arg("silence_id", "SILENCE_ID")),

    Group("incidents", "incidents: list, show, open, status, note, roles"),
    _cmd("incidents list", cmd_incidents_list, READ, "list open incidents",
         Opt("--status", multiple=True, choices=list(STATUSES), help="repeatable"),
         Opt("--all", is_flag=True, help="resolved and closed too")),
    _cmd("incidents show", cmd_incidents_show, READ, "an incident: alerts, root causes, runbooks, timeline", INCIDENT),
    _cmd("incidents open", cmd_incidents_open, "incidents.write", "open an incident by hand from alerts",
         Opt("--alert", multiple=True, metavar="FINGERPRINT", help="repeatable"), Opt("--title"),
         Opt("--severity", choices=["SEV1", "SEV2", "SEV3", "SEV4"])),
    _cmd("incidents status", cmd_incidents_status, "incidents.write",
         "move an incident forward: " + " -> ".join(STATUSES),
         INCIDENT, Arg("status", "STATUS", choices=list(STATUSES)), Opt("--note")),
    _cmd("incidents note", cmd_incidents_note, "incidents.write", "add a note to the timeline",
         INCIDENT, Arg("text", "TEXT")),
    _cmd("incidents roles", cmd_incidents_roles, "incidents.write", "set the incident commander and scribe",
         INCIDENT, Opt("--commander"), Opt("--scribe")),

    Group("postmortem", "postmortems: create (prefilled), edit, revisions, export, action items"),
    _cmd("postmortem create", cmd_postmortem_create, "postmortems.write",
         "draft the postmortem of an incident, prefilled from its evidence", INCIDENT),
    _cmd("postmortem edit", cmd_postmortem_edit, "postmortems.write", "set one field; saved as a new revision",
         INCIDENT,
         Arg("field", "FIELD",
             "summary, impact, root_causes, trigger, resolution, detection, went_well, went_wrong, ..."),
         Arg("text", "TEXT"), Opt("--comment", help="what this revision changes")),
    _cmd("postmortem revisions", cmd_postmortem_revisions, READ, "list the saved revisions", INCIDENT),
    _cmd("postmortem export", cmd_postmortem_export, READ,
         "the postmortem as Markdown (with timeline and action items)",
         INCIDENT, Opt("--revision", type=int), Opt("--out", metavar="FILE", help="write to a file instead of stdout")),
    _cmd("postmortem action", cmd_postmortem_action_add, "postmortems.write",
         "add an action item (owner, type, due date)",
         INCIDENT, Opt("--title", required=True), Opt("--owner", required=True),
         Opt("--type", required=True, choices=["prevent", "mitigate", "detect", "repair", "process"]),
         Opt("--due", required=True, metavar="YYYY-MM-DD")),
    _cmd("postmortem actions", cmd_postmortem_actions, READ, "list the action items of an incident", INCIDENT),
    _cmd("postmortem action-set", cmd_postmortem_action_set, "postmortems.write",
         "update an action item's status, owner or due date",
         Arg("item_id", "ITEM"), Opt("--status", choices=["open", "in_progress", "done", "wont_do"]),
         Opt("--owner"), Opt("--due", metavar="YYYY-MM-DD")),

    Group("decisions", "decisions: recommend from evidence, approve, carry out, reverse"),
    _cmd("decisions recommend", cmd_decisions_recommend, "decisions.recommend",
         "recommend fix monitoring / fix upstream / roll back / retrain / hold", INCIDENT),
    _cmd("decisions list", cmd_decisions_list, READ, "decisions, oldest first",
         Arg("incident_id", "INCIDENT", required=False)),
    _cmd("decisions show", cmd_decisions_show, READ, "a decision with its evidence and history", DECISION),
    _cmd("decisions approve", cmd_decisions_approve, "decisions.approve",
         "approve a recommended decision (needs --reason)", DECISION, Opt("--reason")),
    _cmd("decisions reject", cmd_decisions_reject, "decisions.approve", "reject a decision (needs --reason)",
         DECISION, Opt("--reason")),
    _cmd("decisions carry-out", cmd_decisions_carry_out, "decisions.carry_out",
         "carry out an approved decision (roll back / promote in the registry)", DECISION, Opt("--reason"),
         Opt("--candidate", type=int, metavar="VERSION", help="retrain: the candidate version to promote")),
    _cmd("decisions reverse", cmd_decisions_reverse, "decisions.carry_out",
         "reverse a carried-out decision (reverts the registry move)", DECISION, Opt("--reason")),
)
