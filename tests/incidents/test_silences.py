from __future__ import annotations

from datetime import timedelta

import pytest

from incidents.silences import (
    SilenceError,
    add_silence,
    expire_silence,
    list_silences,
    parse_end,
    parse_matcher,
    silencing,
)

LABELS = {"check": "unit_change", "model": "loan_default", "subject": "applications.income", "severity": "critical"}


def test_matchers_equality_and_regex():
    assert parse_matcher("check=unit_change").matches(LABELS)
    assert not parse_matcher("check=psi").matches(LABELS)
    assert parse_matcher(r"subject=~applications\..*").matches(LABELS)
    assert not parse_matcher(r"subject=~income").matches(LABELS)  # regexes match the whole value
    assert parse_matcher("severity!=info").matches(LABELS)
    assert parse_matcher("subject!~bureau.*").matches(LABELS)
    assert parse_matcher("owner=").matches(LABELS)  # absent label equals ""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ends_at": None}, "a silence needs an end: silences that never end hide problems (hint: --ends 2h or an ISO time)"),
        ({"comment": "  "}, "a silence needs a comment saying why (hint: --comment 'known upstream backfill, ticket 123')"),
        ({"comment": None}, "a silence needs a comment saying why"),
        ({"author": ""}, "a silence needs an author (hint: --user NAME or $VIGIL_USER)"),
        ({"matchers": []}, "a silence needs at least one matcher (hint: --match check=unit_change)"),
        ({"matchers": ["check!=x"]}, "a silence must have at least one matcher that does not match everything"),
        ({"matchers": ["check"]}, "matcher 'check' is not of the form name=value"),
        ({"matchers": ["subject=~(unclosed"]}, "matcher 'subject=~(unclosed': bad regular expression"),
    ],
)
def test_silence_validation_messages(ops, clock, kwargs, message):
    args = {"matchers": ["check=unit_change"], "ends_at": clock.now() + timedelta(hours=2), "author": "ana", "comment": "backfill"}
    args.update(kwargs)
    with pytest.raises(SilenceError) as err:
        add_silence(ops, clock, **args)
    assert str(err.value).startswith(message)


def test_end_must_follow_start_and_be_in_future(ops, clock):
    now = clock.now()
    with pytest.raises(SilenceError, match="is not after its start"):
        add_silence(ops, clock, matchers=["check=x"], starts_at=now, ends_at=now - timedelta(hours=1), author="a", comment="c")
    with pytest.raises(SilenceError, match="is already past"):
        add_silence(
            ops, clock, matchers=["check=x"], starts_at=now - timedelta(hours=3), ends_at=now - timedelta(hours=1), author="a", comment="c"
        )


def test_expired_silences_stay_visible_and_stop_matching(ops, clock):
    s = add_silence(ops, clock, matchers=["check=unit_change"], ends_at=clock.now() + timedelta(hours=1), author="ana", comment="backfill")
    now = clock.now()
    assert s.is_active(now) and silencing([s], LABELS) == s.silence_id
    clock.advance(timedelta(minutes=10))
    expired = expire_silence(ops, clock, s.silence_id, by="bo")
    assert expired.state(clock.now()) == "expired" and expired.expired_by == "bo"
    listed = list_silences(ops)
    assert [x.silence_id for x in listed] == [s.silence_id]
    assert listed[0].to_dict(clock.now())["state"] == "expired"
    with pytest.raises(SilenceError, match="already ended"):
        expire_silence(ops, clock, s.silence_id, by="bo")


def test_silence_ends_by_itself(ops, clock):
    s = add_silence(ops, clock, matchers=["check=unit_change"], ends_at=clock.now() + timedelta(hours=1), author="a", comment="c")
    clock.advance(timedelta(hours=2))
    assert s.state(clock.now()) == "expired"


def test_future_silence_is_pending(ops, clock):
    s = add_silence(
        ops, clock, matchers=["check=x"], starts_at=clock.now() + timedelta(hours=1), ends_at=clock.now() + timedelta(hours=2), author="a", comment="c"
    )
    assert s.state(clock.now()) == "pending"


def test_parse_end(clock):
    assert parse_end("2h", clock.now()) == clock.now() + timedelta(hours=2)
    assert parse_end("2026-04-01T00:00:00Z", clock.now()).isoformat() == "2026-04-01T00:00:00+00:00"
    with pytest.raises(SilenceError, match="neither a duration"):
        parse_end("tomorrow", clock.now())
