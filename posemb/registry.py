"""Every scheme in the book by name: ``posemb.scheme(name, ...)``.

One call builds any scheme for an attention layer of ``num_heads`` heads of width
``head_dim`` (model width ``dim = num_heads * head_dim``), so that models and experiments
can take a scheme as a string. Keyword options beyond the shared ones go to the scheme's
class, e.g. ``posemb.scheme("rope", num_heads=8, head_dim=64, base=500000.0)``.

==============  ==========================================  ================
name            class                                       kind
==============  ==========================================  ================
``nope``        :class:`~posemb.NoPE`                       ``none``
``sinusoidal``  :class:`~posemb.SinusoidalPositionalEmbedding`  ``embed``
``learned``     :class:`~posemb.LearnedPositionalEmbedding`  ``embed``
``rope``        :class:`~posemb.Rotary`                     ``rotate``
``xpos``        :class:`~posemb.XPos`                       ``rotate``
``t5``          :class:`~posemb.T5RelativeBias`             ``bias``
``alibi``       :class:`~posemb.ALiBi`                      ``bias``
``kerple``      :class:`~posemb.KerpleBias`                 ``bias``
``fire``        :class:`~posemb.FireBias`                   ``bias``
``shaw``        :class:`~posemb.ShawRelativeKeys`           ``content_bias``
``cope``        :class:`~posemb.CoPE`                       ``content_bias``
==============  ==========================================  ================
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from ._checks import check_int
from .absolute import LearnedPositionalEmbedding, SinusoidalPositionalEmbedding
from .attention import NoPE, PositionScheme
from .bias import ALiBi, FireBias, KerpleBias
from .contextual import CoPE
from .relative import ShawRelativeKeys, T5RelativeBias
from .rotary import Rotary, XPos

__all__ = ["SCHEME_NAMES", "scheme"]


def _nope(num_heads, head_dim, causal, max_positions, **options):
    return NoPE(**options)


def _sinusoidal(num_heads, head_dim, causal, max_positions, **options):
    return SinusoidalPositionalEmbedding(num_heads * head_dim, **options)


def _learned(num_heads, head_dim, causal, max_positions, **options):
    if max_positions is None:
        raise ValueError(
            "scheme 'learned' needs max_positions (the number of rows of its table, an "
            "int >= 1): a position past the last row has no vector"
        )
    return LearnedPositionalEmbedding(max_positions, num_heads * head_dim, **options)


def _rope(num_heads, head_dim, causal, max_positions, **options):
    return Rotary(head_dim, max_positions=max_positions, **options)


def _xpos(num_heads, head_dim, causal, max_positions, **options):
    return XPos(head_dim, **options)


def _t5(num_heads, head_dim, causal, max_positions, **options):
    return T5RelativeBias(num_heads, **{"bidirectional": not causal, **options})


def _shaw(num_heads, head_dim, causal, max_positions, **options):
    return ShawRelativeKeys(head_dim, **options)


def _alibi(num_heads, head_dim, causal, max_positions, **options):
    return ALiBi(num_heads, **options)


def _kerple(num_heads, head_dim, causal, max_positions, **options):
    return KerpleBias(num_heads, **options)


def _fire(num_heads, head_dim, causal, max_positions, **options):
    return FireBias(num_heads, **options)


def _cope(num_heads, head_dim, causal, max_positions, **options):
    if not causal:
        raise ValueError(
            "scheme 'cope' is only defined for causal attention (it counts over earlier "
            "keys): pass causal=True"
        )
    return CoPE(head_dim, **options)


_BUILDERS: dict[str, Callable[..., PositionScheme]] = {
    "nope": _nope,
    "sinusoidal": _sinusoidal,
    "learned": _learned,
    "rope": _rope,
    "xpos": _xpos,
    "t5": _t5,
    "shaw": _shaw,
    "alibi": _alibi,
    "kerple": _kerple,
    "fire": _fire,
    "cope": _cope,
}

#: Names :func:`scheme` accepts, grouped by where position enters.
SCHEME_NAMES = tuple(_BUILDERS)

_CLASSES = {
    "nope": NoPE,
    "sinusoidal": SinusoidalPositionalEmbedding,
    "learned": LearnedPositionalEmbedding,
    "rope": Rotary,
    "xpos": XPos,
    "t5": T5RelativeBias,
    "shaw": ShawRelativeKeys,
    "alibi": ALiBi,
    "kerple": KerpleBias,
    "fire": FireBias,
    "cope": CoPE,
}
# Constructor arguments that posemb.scheme fills in from its own arguments.
_SHARED = {
    "nope": (),
    "sinusoidal": ("dim",),
    "learned": ("num_positions", "dim"),
    "rope": ("head_dim", "max_positions"),
    "xpos": ("head_dim",),
    "t5": ("num_heads",),
    "shaw": ("head_dim",),
    "alibi": ("num_heads",),
    "kerple": ("num_heads",),
    "fire": ("num_heads",),
    "cope": ("head_dim",),
}


def scheme(
    name: str,
    *,
    num_heads: int,
    head_dim: int,
    causal: bool = False,
    max_positions: int | None = None,
    **options: object,
) -> PositionScheme:
    """Build the scheme called ``name`` (one of :data:`SCHEME_NAMES`).

    Args:
        name: ``"nope"``, ``"sinusoidal"``, ``"learned"``, ``"rope"``, ``"xpos"``,
            ``"t5"``, ``"shaw"``, ``"alibi"``, ``"kerple"``, ``"fire"`` or ``"cope"``.
        num_heads: heads of the attention layer (bias schemes give one bias per head).
        head_dim: width of one head (rotary and content schemes act on it; input
            embeddings are ``num_heads * head_dim`` wide).
        causal: the attention is causal (T5 then buckets only earlier keys; CoPE needs it).
        max_positions: rows of a learned table (required by ``"learned"``).
        **options: passed to the scheme's class (``base=`` for RoPE, ``variant=`` for
            KERPLE, ``init_std=`` for learned tables, ...).

    Returns:
        A :class:`~posemb.PositionScheme`; its ``kind`` says where it enters.
    """
    if not isinstance(name, str) or name not in _BUILDERS:
        raise ValueError(f"name must be one of {SCHEME_NAMES}, got {name!r}")
    check_int("num_heads", num_heads, minimum=1)
    check_int("head_dim", head_dim, minimum=1)
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be True or False, got {causal!r}")
    if max_positions is not None:
        check_int("max_positions", max_positions, minimum=1)
    cls = _CLASSES[name]
    accepted = [
        p for p in inspect.signature(cls.__init__).parameters if p not in ("self", *_SHARED[name])
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(
            f"scheme {name!r} ({cls.__name__}) got unknown option(s) {unknown}; its options are "
            f"{accepted} (num_heads, head_dim, causal and max_positions are set by "
            "posemb.scheme itself)"
        )
    return _BUILDERS[name](num_heads, head_dim, causal, max_positions, **options)
