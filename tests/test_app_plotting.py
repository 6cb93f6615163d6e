"""posemb.lab.plotting: one style per scheme, told apart without colour."""

import matplotlib
import pytest

import posemb
from posemb.lab import plotting


def test_every_registry_scheme_has_a_style_and_a_label():
    assert set(plotting.SCHEME_STYLES) == set(posemb.SCHEME_NAMES)
    assert set(plotting.SCHEME_LABELS) == set(posemb.SCHEME_NAMES)


def test_schemes_differ_in_marker_and_in_line_style():
    """Markers and line styles are unique per scheme: colour is never the only cue."""
    markers = [s["marker"] for s in plotting.SCHEME_STYLES.values()]
    styles = [str(s["linestyle"]) for s in plotting.SCHEME_STYLES.values()]
    assert len(set(markers)) == len(markers)
    assert len(set(styles)) == len(styles)


def test_colours_come_from_the_colour_blind_safe_palette_or_grey():
    allowed = set(plotting.OKABE_ITO.values()) - {plotting.OKABE_ITO["yellow"]} | {"#7F7F7F"}
    assert {s["color"] for s in plotting.SCHEME_STYLES.values()} <= allowed


def test_scheme_style_is_a_fresh_dict_that_matplotlib_accepts():
    import matplotlib.pyplot as plt

    style = plotting.scheme_style("rope")
    style["color"] = "red"
    assert plotting.SCHEME_STYLES["rope"]["color"] == plotting.OKABE_ITO["blue"]
    assert "marker" not in plotting.scheme_style("alibi", markers=False)
    fig, ax = plt.subplots()
    for name in posemb.SCHEME_NAMES:
        (line,) = ax.plot([0, 1], [0, 1], **plotting.scheme_style(name))
        assert line.get_label() == plotting.scheme_label(name)
    plt.close(fig)


def test_unknown_scheme_is_refused_by_name():
    with pytest.raises(ValueError, match="scheme must be one of"):
        plotting.scheme_style("Rope")
    with pytest.raises(ValueError, match="got 'sin'"):
        plotting.scheme_label("sin")


def test_book_style_sets_dpi_and_cycle():
    saved = matplotlib.rcParams.copy()
    try:
        plotting.use_book_style()
        assert matplotlib.rcParams["figure.dpi"] >= 150
        cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
        assert cycle[0] == plotting.OKABE_ITO["blue"]
    finally:
        matplotlib.rcParams.update(saved)


def test_every_long_context_method_has_a_distinct_style_and_a_label():
    from posemb.lab.experiments import LONGCONTEXT_METHODS

    assert set(plotting.METHOD_STYLES) == set(LONGCONTEXT_METHODS) == set(plotting.METHOD_LABELS)
    styles = [plotting.method_style(m) for m in LONGCONTEXT_METHODS]
    for key in ("marker", "linestyle", "color"):
        assert len({repr(s[key]) for s in styles}) == len(styles), key
    assert plotting.method_style("ft_pi")["label"] == "fine-tuned, PI"
    with pytest.raises(ValueError, match="method must be one of"):
        plotting.method_style("pi")


def test_xpos_differs_from_rope_in_colour_as_well_as_marker():
    # the rotary chapter draws the two on one plot
    rope, xpos = plotting.SCHEME_STYLES["rope"], plotting.SCHEME_STYLES["xpos"]
    assert rope["color"] != xpos["color"] and rope["marker"] != xpos["marker"]
