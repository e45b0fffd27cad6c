"""Data values written into report HTML cannot run as script (issue: script injection).

A categorical value ``</script><svg/onload=...>`` used to close Evidently's data block and
leave live elements in `vigil report` files and on the Checks page.
"""

from __future__ import annotations

import html
import json
import re

import pandas as pd
import pytest

from checks.report import drift_report_html, sandboxed_frame_html, script_safe_json

PAYLOADS = [
    "</script><svg/onload=alert(document.domain)>",
    "</SCRIPT><img src=x onerror=alert(1)>",
    "<!--<script>",
    "\u2028</script\t><b>",
]


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    ref = pd.DataFrame({"purpose": ["car", "other"] * 100, "income": [float(i) for i in range(200)]})
    cur = pd.DataFrame({"purpose": (PAYLOADS * 50)[:200], "income": [float(i) * 1.1 for i in range(200)]})
    return ref, cur


@pytest.fixture(scope="module")
def report() -> str:
    ref, cur = _frames()
    return drift_report_html(ref, cur, ["purpose", "income"])


def test_script_safe_json_round_trips_and_has_no_markup() -> None:
    value = {"x": PAYLOADS, "amp": "a & b", "n": 1.5}
    text = script_safe_json(value)
    assert json.loads(text) == value
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text


def test_report_html_carries_no_payload_as_markup(report: str) -> None:
    for payload in PAYLOADS:
        assert payload not in report
    assert "<svg/onload" not in report.lower() and "<img src=x" not in report.lower()
    # The payload is still in the report, as escaped data (the chart shows the category).
    assert "\\u003c/script\\u003e\\u003csvg/onload=alert(document.domain)\\u003e" in report


def test_report_data_block_is_one_script_and_parses_back(report: str) -> None:
    match = re.search(r"<script>\s*var (metric_[0-9a-f]+) = (.*?);\n\s*var additional_graphs_\1 = (.*?);\n</script>",
                      report, re.S)
    assert match is not None, "the data block is where Evidently's template expects it"
    data = json.loads(match.group(2))
    assert data["name"] == "Report" and data["widgets"]
    assert "svg/onload=alert(document.domain)" in match.group(2) + match.group(3), "the value is kept, as data"


def test_sandboxed_frame_is_opaque_origin_and_escapes_srcdoc() -> None:
    hostile = '<p>x</p>"><script>parent.document.title="pwned"</script>'
    page = sandboxed_frame_html(hostile, height=500)
    frames = re.findall(r"<iframe[^>]*>", page)
    assert len(frames) == 1
    assert 'sandbox="allow-scripts"' in frames[0]
    assert "allow-same-origin" not in page
    srcdoc = re.search(r'srcdoc="([^"]*)"', page)
    assert srcdoc is not None and html.unescape(srcdoc.group(1)) == hostile
    assert "<script>" not in page.split("srcdoc=")[1].split('"></iframe>')[0]
