"""One look for every figure in the book, set in one place.

:func:`use_book_style` sets matplotlib's defaults (150 dpi, larger text, a colour cycle
from Okabe and Ito's colour-blind-safe palette); :func:`scheme_style` gives the keyword
arguments that draw a position scheme the same way in every chapter: its own colour *and*
its own marker and line style, so that a reader who cannot tell two colours apart (or
prints in grey) still can tell the lines apart. :func:`scheme_label` is its display name.

Okabe, M. and Ito, K. (2008), "Color Universal Design (CUD): how to make figures and
presentations that are friendly to colorblind people". Book part: every chapter.
"""

from __future__ import annotations

__all__ = [
    "OKABE_ITO",
    "SCHEME_STYLES",
    "SCHEME_LABELS",
    "BOOK_RC",
    "scheme_style",
    "scheme_label",
    "METHOD_STYLES",
    "METHOD_LABELS",
    "method_style",
    "use_book_style",
    "MIN_FONT_PT",
    "MIN_TEXT_PX",
    "max_figure_shrink",
]

#: Okabe and Ito's eight colours (2008), named.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

_C = OKABE_ITO
#: Colour, marker and line style per scheme name of :data:`posemb.SCHEME_NAMES`. Every
#: scheme has its own marker and its own line style (so curves drawn without markers stay
#: distinct); colours repeat only between schemes the book never draws together (T5 and
#: Shaw, KERPLE and CoPE, sinusoidal and xPos). xPos is drawn beside RoPE, so the two
#: differ in colour too. Okabe-Ito's pale yellow is not used on white: FIRE is grey.
SCHEME_STYLES: dict[str, dict] = {
    "nope": {"color": _C["black"], "marker": "p", "linestyle": ":"},
    "sinusoidal": {"color": _C["orange"], "marker": "s", "linestyle": "--"},
    "learned": {"color": _C["sky_blue"], "marker": "^", "linestyle": "-."},
    "rope": {"color": _C["blue"], "marker": "o", "linestyle": "-"},
    "xpos": {"color": _C["orange"], "marker": "x", "linestyle": (0, (2, 1))},
    "t5": {"color": _C["reddish_purple"], "marker": "D", "linestyle": (0, (5, 1))},
    "shaw": {"color": _C["reddish_purple"], "marker": "*", "linestyle": (0, (1, 3))},
    "alibi": {"color": _C["bluish_green"], "marker": "v", "linestyle": (0, (3, 1, 1, 1, 1, 1))},
    "kerple": {"color": _C["vermillion"], "marker": "P", "linestyle": (0, (4, 2, 1, 2))},
    "fire": {"color": "#7F7F7F", "marker": "X", "linestyle": (0, (8, 2))},
    "cope": {"color": _C["vermillion"], "marker": "h", "linestyle": (0, (1, 1))},
}

#: How the text names each scheme.
SCHEME_LABELS = {
    "nope": "NoPE",
    "sinusoidal": "sinusoidal",
    "learned": "learned",
    "rope": "RoPE",
    "xpos": "xPos",
    "t5": "T5",
    "shaw": "Shaw",
    "alibi": "ALiBi",
    "kerple": "KERPLE",
    "fire": "FIRE",
    "cope": "CoPE",
}

#: matplotlib settings of every figure: 150 dpi (sharp on phones and high-density screens),
#: text large enough to stay readable when a figure is scaled to a phone's width, the
#: colour cycle of :data:`OKABE_ITO` (black last) for lines that are not schemes.
BOOK_RC = {
    "figure.dpi": 150,
    "savefig.dpi": 150,
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9.5,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
#: The smallest text any figure of the book may use, in points: the style's smallest size
#: above and every ``fontsize``/``labelsize`` a chapter sets (a test checks both).
MIN_FONT_PT = 8.0
#: The smallest text a reader should have to read on a 1280 px screen, in CSS pixels.
MIN_TEXT_PX = 9.0


def max_figure_shrink() -> float:
    """How far the site may shrink a figure (natural width / displayed width) before its
    smallest text drops under :data:`MIN_TEXT_PX`: text of :data:`MIN_FONT_PT` points is
    ``MIN_FONT_PT / 72 * dpi`` pixels in the 150 dpi file, 16.7 px, so the limit is 1.85.
    At the theme's 672 px column this allows figures up to about 1240 px, 8.3 inches."""
    return MIN_FONT_PT / 72 * BOOK_RC["savefig.dpi"] / MIN_TEXT_PX


_CYCLE = ["blue", "orange", "bluish_green", "vermillion", "reddish_purple", "sky_blue", "black"]


def _check_name(name: str) -> str:
    if name not in SCHEME_STYLES:
        raise ValueError(f"scheme must be one of {tuple(SCHEME_STYLES)}, got {name!r}")
    return name


def scheme_style(name: str, markers: bool = True) -> dict:
    """``plot`` keyword arguments for scheme ``name``: ``color``, ``linestyle``, ``marker``
    (``markers=False`` leaves the marker out, for curves with hundreds of points) and
    ``label``. A new dict each call, so callers may change it."""
    style = dict(SCHEME_STYLES[_check_name(name)])
    if not markers:
        style.pop("marker")
    style["label"] = SCHEME_LABELS[name]
    return style


def scheme_label(name: str) -> str:
    """The name the book's text uses for scheme ``name`` (``"rope"`` -> ``"RoPE"``)."""
    return SCHEME_LABELS[_check_name(name)]


#: Colour, marker and line style of each long-context method of
#: :data:`posemb.lab.experiments.LONGCONTEXT_METHODS`: zero-shot methods solid or dashed in
#: warm colours, fine-tuned ones in cool colours, every one with its own marker and dashes.
METHOD_STYLES: dict[str, dict] = {
    "none": {"color": _C["black"], "marker": "p", "linestyle": ":"},
    "ntk": {"color": _C["orange"], "marker": "s", "linestyle": "--"},
    "dynamic": {"color": _C["reddish_purple"], "marker": "D", "linestyle": (0, (5, 1))},
    "yarn": {"color": _C["vermillion"], "marker": "P", "linestyle": "-"},
    "ft_none": {"color": "#7F7F7F", "marker": "X", "linestyle": (0, (8, 2))},
    "ft_pi": {"color": _C["sky_blue"], "marker": "^", "linestyle": "-."},
    "ft_yarn": {"color": _C["blue"], "marker": "o", "linestyle": (0, (3, 1, 1, 1, 1, 1))},
}

#: How the text names each long-context method.
METHOD_LABELS = {
    "none": "no change",
    "ntk": "NTK, zero-shot",
    "dynamic": "dynamic NTK, zero-shot",
    "yarn": "YaRN, zero-shot",
    "ft_none": "fine-tuned, plain RoPE",
    "ft_pi": "fine-tuned, PI",
    "ft_yarn": "fine-tuned, YaRN",
}


def method_style(name: str) -> dict:
    """``plot`` keyword arguments for long-context method ``name`` (as :func:`scheme_style`)."""
    if name not in METHOD_STYLES:
        raise ValueError(f"method must be one of {tuple(METHOD_STYLES)}, got {name!r}")
    return dict(METHOD_STYLES[name]) | {"label": METHOD_LABELS[name]}


def use_book_style() -> None:
    """Set matplotlib's defaults to the book's (:data:`BOOK_RC` and the Okabe-Ito cycle).

    Changes global matplotlib state on purpose, like ``matplotlib.style.use``; every
    chapter calls it once, in its first code cell.
    """
    import matplotlib as mpl

    mpl.rcParams.update(BOOK_RC)
    mpl.rcParams["axes.prop_cycle"] = mpl.cycler(color=[OKABE_ITO[c] for c in _CYCLE])
