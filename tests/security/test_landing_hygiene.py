"""Landing hygiene (finding 9): symlinks leaving the storage root, a stray file name in the
simulator's folder, and redaction that does not garble ordinary words."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from app.cli import main
from core.config import VigilConfig
from core.stores import Warehouse
from incidents.delivery import SECRET, redact
from profilers.ingest import ingest_all
from profilers.quarantine import list_quarantine
from tests.app.builders import write_history

REPO = Path(__file__).resolve().parents[2]


def _wh(cfg: VigilConfig) -> Warehouse:
    return Warehouse(cfg.warehouse_path)


def test_symlink_to_a_file_outside_the_root_is_refused_without_its_content(cfg: VigilConfig, tmp_path: Path) -> None:
    write_history(cfg.root, date(2024, 3, 1), days=1)
    secret = tmp_path / "outside" / "passwd"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    landing = cfg.root / "landing" / "predictions"
    (landing / "predictions_2024-03-05.parquet").symlink_to(secret)
    outside_parquet = tmp_path / "outside" / "real.parquet"
    outside_parquet.write_bytes((landing / "predictions_2024-03-01.parquet").read_bytes())
    (landing / "predictions_2024-03-06.parquet").symlink_to(outside_parquet)
    report = ingest_all(cfg, _wh(cfg))
    assert report.loaded == 2  # the day's real files, not the links
    reasons = {q.path: q for q in report.quarantined}
    assert {Path(p).name for p in reasons} == {"predictions_2024-03-05.parquet", "predictions_2024-03-06.parquet"}
    for entry in list_quarantine(_wh(cfg)):
        assert entry["reason"] == "symlink_outside_root"
        assert "root:x" not in str(entry) and "passwd" not in str(entry["detail"])
        assert "outside the storage root" in entry["detail"]
    with _wh(cfg).read() as conn:
        assert conn.execute("SELECT count(*) FROM predictions").fetchall()[0][0] == 300


def test_symlink_inside_the_root_still_loads(cfg: VigilConfig) -> None:
    write_history(cfg.root, date(2024, 3, 1), days=1)
    landing = cfg.root / "landing" / "predictions"
    kept = cfg.root / "archive"
    kept.mkdir()
    (landing / "predictions_2024-03-01.parquet").rename(kept / "p.parquet")
    (landing / "predictions_2024-03-01.parquet").symlink_to(kept / "p.parquet")
    report = ingest_all(cfg, _wh(cfg))
    assert report.loaded == 2 and not report.quarantined


def test_simulate_with_a_stray_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "var"
    folder = root / "landing" / "etl" / "applications"
    folder.mkdir(parents=True)
    (folder / "applications_2024-03-01.parquet").write_bytes(b"PAR1")
    (folder / "applications_nokey.parquet").write_bytes(b"PAR1")
    code = main(["--config", str(REPO / "baseline_model/configs/monitor.yaml"), "--root", str(root),
                 "simulate", "--days", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "applications_nokey.parquet: not a simulated day's extract" in err and "--start" in err
    assert "Traceback" not in err and "Invalid isoformat" not in err


@pytest.mark.parametrize(("text", "secrets", "expected"), [
    ("network error at ne", ["ne"], f"network error at {SECRET}"),
    ("token t in test", ["t"], f"token {SECRET} in test"),
    ("url https://hooks.example/abc123secretpath failed", ["abc123secretpath"], f"url https://hooks.example/{SECRET} failed"),
    ("both abcdefghij and abc", ["abcdefghij", "abc"], f"both {SECRET} and {SECRET}"),
    ("the secret itself: <secret>", ["secret"], f"the {SECRET} itself: <{SECRET}>"),
    ("nothing here", [], "nothing here"),
])
def test_redaction_masks_without_splitting_words(text: str, secrets: list[str], expected: str) -> None:
    assert redact(text, secrets) == expected


def test_redaction_never_garbles_a_previous_mask() -> None:
    out = redact("connect to network with s3cr and secre", ["secre", "s3cr"])
    assert out == f"connect to network with {SECRET} and {SECRET}"
    assert "<secre<" not in redact("a<secret>b", ["secre", "t"])


def test_a_cp_p_rewrite_with_the_same_size_and_mtime_reloads(cfg: VigilConfig, tmp_path: Path) -> None:
    import os
    import subprocess

    import pandas as pd

    write_history(cfg.root, date(2024, 3, 1), days=1)
    target = cfg.root / "landing" / "predictions" / "predictions_2024-03-01.parquet"
    frame = pd.read_parquet(target)
    frame.to_parquet(target, index=False, compression=None)
    first = ingest_all(cfg, _wh(cfg))
    assert first.loaded == 2
    assert ingest_all(cfg, _wh(cfg)).skipped == 2, "unchanged files are skipped by the pre-filter"
    rewritten = frame.copy()
    rewritten.loc[0, "score"] = 0.123456789
    staged = tmp_path / "staged.parquet"
    rewritten.to_parquet(staged, index=False, compression=None)
    before = os.stat(target)
    assert staged.stat().st_size == before.st_size, "same size, so only ctime / inode can tell"
    os.utime(staged, ns=(before.st_atime_ns, before.st_mtime_ns))
    subprocess.run(["cp", "-p", str(staged), str(target)], check=True)
    after = os.stat(target)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    again = ingest_all(cfg, _wh(cfg))
    assert again.replaced == 1 and again.loaded == 1
    with _wh(cfg).read() as conn:
        scores = conn.execute("SELECT score FROM predictions WHERE application_id = ?",
                              [str(frame.loc[0, "application_id"])]).fetchall()
    assert scores == [(0.123456789,)]
