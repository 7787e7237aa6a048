"""The one progress facility: a tqdm bar with a label, counts and a status text; disabled, nothing."""
from __future__ import annotations

import io

from faceplate.progress import bar


def test_bar_shows_label_counts_and_status():
    out = io.StringIO()
    b = bar("extract: analyse", 3, stream=out)
    for _ in range(3):
        b.set("2 faces")
        b.step()
    b.close()
    text = out.getvalue()
    assert "extract: analyse" in text and "3/3" in text and "2 faces" in text


def test_disabled_bar_writes_nothing(capsys):
    with bar("x", 2, enabled=False) as b:
        b.step()
        b.set("y")
    assert capsys.readouterr().err == ""
