"""A write's confirmation (and any text put in a Markdown element) renders as typed: property
tests over arbitrary text, rendered by a real CommonMark renderer (markdown-it, with the
table and strikethrough extensions that GitHub-flavoured Markdown adds)."""

from __future__ import annotations

import html
import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from app.dashboard.common import escaped

RENDER = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render
MARKUP = "*_`[]()<>#!|~$&:/\\-=.+{}\"' \n\t0123456789abcXYZ"


@given(st.text(alphabet=st.sampled_from(MARKUP) | st.characters(codec="utf-8"), max_size=60))
@example("Rollback: done.")
@example("**bold** [link](http://evil.example) <img src=x onerror=alert(1)>")
@example("1. a list")
@example("- a list")
@example("---")
@example("# a heading")
@example("    indented code")
@example("a\n===")
@example(":red[red] :material/home: &amp;")
@example("`code` $x^2$ ~~struck~~ | a | b |")
def test_escaped_text_renders_as_one_plain_paragraph_of_itself(text: str) -> None:
    printable = "".join(c for c in text if c.isspace() or unicodedata.category(c) != "Cc")
    line = " ".join(printable.split())
    rendered = RENDER(escaped(text))
    if not line:
        assert rendered == ""
        return
    assert rendered == f"<p>{html.escape(line, quote=False).replace(chr(34), '&quot;')}</p>\n"


def test_plain_prose_is_left_as_it_is() -> None:
    assert escaped("Rollback: done.") == "Rollback: done."
    assert escaped("Acknowledged by rita.") == "Acknowledged by rita."
    assert escaped("a\nb\tc\x00") == "a b c"
