"""posemb.lab.tables.Table: HTML for the book, aligned text for a console and for nbval."""

import pytest

from posemb.lab.tables import Table


def test_text_and_html_hold_the_same_cells():
    rows = [["no change", "47.1", "0 of 5"], ["YaRN", 21, "5 of 5"]]
    t = Table(["method", "ppl", "recall"], rows, caption="at 16x")
    text = repr(t).splitlines()
    assert text[0] == "at 16x"
    assert text[1] == "method" + " " * 6 + "ppl  recall"
    assert text[3] == "no change  47.1  0 of 5"
    assert text[4] == "YaRN" + " " * 9 + "21  5 of 5"
    page = t._repr_html_()
    assert page.count("<tr>") == 3 and "<caption>at 16x</caption>" in page
    assert "<td>no change</td><td>47.1</td><td>0 of 5</td>" in page


def test_cells_are_escaped():
    page = Table(["a"], [["<b>&"]])._repr_html_()
    assert "<td>&lt;b&gt;&amp;</td>" in page


def test_bad_shapes_are_refused_by_name():
    with pytest.raises(ValueError, match="rows\\[1\\] has 1 cells but header has 2"):
        Table(["a", "b"], [["1", "2"], ["3"]])
    with pytest.raises(ValueError, match="header"):
        Table([], [])
