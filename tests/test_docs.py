"""Docs stay in step with the code: every `vigil` command the docs name exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.cli import declarations

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "baseline_model" / "README.md", *sorted((REPO / "runbooks").glob("*.md"))]
COMMAND = re.compile(r"(?:^|[`$\s])vigil((?:\s+[a-z][a-z0-9-]*)+)")


def _subcommands(path: list[str]) -> set[str]:
    """The words that may follow `vigil PATH` as a (sub)command, from the command declarations."""
    n = len(path)
    return {d.words[n] for d in declarations() if len(d.words) > n and list(d.words[:n]) == path}


def command_exists(words: list[str]) -> tuple[bool, str]:
    """Walk the declarations: the first word must be a command, later words subcommands while there are any."""
    path: list[str] = []
    for word in words:
        choices = _subcommands(path)
        if not choices:
            break  # a positional argument of the command (BATCH, VERSION, ...)
        if word not in choices:
            return False, f"`vigil {' '.join([*path, word])}` is not a command (known: {', '.join(sorted(choices))})"
        path.append(word)
    return bool(path), " ".join(path)


def documented_commands() -> list[tuple[str, list[str]]]:
    found = []
    for doc in DOCS:
        if not doc.exists():
            continue
        for line in doc.read_text().splitlines():
            for m in COMMAND.finditer(line):
                words = m.group(1).split()
                if words and (doc.name, words) not in found:
                    found.append((doc.name, words))
    return found


def test_docs_name_some_commands() -> None:
    assert len(documented_commands()) > 10


@pytest.mark.parametrize(("doc", "words"), documented_commands(), ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_documented_command_exists(doc: str, words: list[str]) -> None:
    ok, detail = command_exists(words)
    assert ok, f"{doc}: {detail}"


def test_readme_shows_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    assert "make run" in text and "make test" in text
