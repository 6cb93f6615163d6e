"""Absolute positions: a vector per position, added to the token embedding at the input.

Where position enters: (1) *added to the input*, ``h = e + p(positions)``.
Explained in the book chapter "Absolute positions".

Notation: ``n`` sequence length, ``dim`` embedding width, ``...`` any leading shape of the
positions tensor. Positions are 0-based.

Sinusoidal embedding (Vaswani et al. 2017, "Attention Is All You Need", section 3.5)::

    PE[pos, 2i]     = sin(pos / base**(2i / dim))
    PE[pos, 2i + 1] = cos(pos / base**(2i / dim))

The angles are computed in float64 and cast once to the requested dtype, so the table is as
accurate as the output dtype allows even at positions in the millions.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import (
    as_positions,
    check_even,
    check_float_dtype,
    check_int,
    check_positive_float,
)
from .attention import PositionScheme

__all__ = [
    "inverse_frequencies",
    "sinusoidal_embedding",
    "sinusoidal_table",
    "SinusoidalPositionalEmbedding",
    "LearnedPositionalEmbedding",
]


def inverse_frequencies(
    dim: int, base: float = 10000.0, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Angular frequencies ``base**(-2i/dim)`` for ``i = 0 .. dim/2 - 1``, in float64.

    Shared by the sinusoidal embedding (chapter "Absolute positions") and RoPE (chapter
    "Rotary positions"): pair ``i`` turns by ``pos * base**(-2i/dim)`` radians at ``pos``.

    Args:
        dim: width ``dim`` the frequencies are for; must be even (one frequency per pair).
        base: frequency base (10000 in Vaswani et al. 2017).
        device: where to put the result.

    Returns:
        float64 tensor ``[dim // 2]``.
    """
    check_even("dim", dim)
    base = check_positive_float("base", base)
    exponent = torch.arange(0, dim, 2, dtype=torch.float64, device=device) / dim  # [dim/2]
    return base ** (-exponent)  # [dim/2]


def sinusoidal_embedding(
    positions: torch.Tensor | int | list[int],
    dim: int,
    base: float = 10000.0,
    *,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Sinusoidal position vectors of Vaswani et al. (2017) at arbitrary ``positions``.

    Column ``2i`` is ``sin(pos * base**(-2i/dim))`` and column ``2i + 1`` the cosine of the
    same angle. Unlike a table there is no largest position; negative and fractional
    positions are allowed (Transformer-XL feeds relative distances). Book chapter:
    "Absolute positions".

    Args:
        positions: integer or real tensor of any shape ``[...]`` (or an int / list of ints).
        dim: embedding width; must be even (one sin and one cos per frequency).
        base: frequency base (10000 in the paper).
        dtype: output dtype. Angles are computed in float64 and cast once at the end.

    Returns:
        ``[..., dim]`` tensor of ``dtype`` on the device of ``positions``.
    """
    check_even("dim", dim)
    check_float_dtype("dtype", dtype)
    pos = as_positions(positions)
    inv_freq = inverse_frequencies(dim, base, device=pos.device)  # [dim/2]
    angles = pos.to(torch.float64)[..., None] * inv_freq  # [..., dim/2]
    table = torch.stack((angles.sin(), angles.cos()), dim=-1)  # [..., dim/2, 2]
    return table.flatten(-2).to(dtype)  # [..., dim]


def sinusoidal_table(
    num_positions: int,
    dim: int,
    base: float = 10000.0,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The sinusoidal table for positions ``0 .. num_positions - 1`` (Vaswani et al. 2017).

    Row ``pos`` is :func:`sinusoidal_embedding` at ``pos``: even columns sine, odd columns
    cosine. Book chapter: "Absolute positions".

    Args:
        num_positions: number of rows (positions ``0 .. num_positions - 1``); may be 0.
        dim: embedding width; must be even.
        base: frequency base (10000 in the paper).
        dtype: output dtype (floating). Angles are computed in float64 and cast once.
        device: where to put the table.

    Returns:
        ``[num_positions, dim]`` tensor of ``dtype``.
    """
    check_int("num_positions", num_positions, minimum=0)
    check_even("dim", dim)
    check_float_dtype("dtype", dtype)
    positions = torch.arange(num_positions, dtype=torch.int64, device=device)  # [n]
    return sinusoidal_embedding(positions, dim, base, dtype=dtype)  # [n, dim]


class SinusoidalPositionalEmbedding(PositionScheme):
    """Fixed sinusoidal positions (Vaswani et al. 2017) as a module with nothing to train.

    A scheme of kind ``"embed"``: a model adds ``embed_positions(positions)`` (or
    ``module(positions)``) to its token embeddings; attention does not use it. Book
    chapter: "Absolute positions".

    Args:
        dim: embedding width (even).
        base: frequency base.
    """

    kind = "embed"

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        self.dim = check_even("dim", dim)
        self.base = check_positive_float("base", base)

    def embed_positions(
        self, positions: torch.Tensor | int | list[int], *, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """Return ``[..., dim]`` vectors for ``positions`` of shape ``[...]``.

        Args:
            positions: integer or real tensor of any shape ``[...]`` (or an int / list of ints).
            dtype: output dtype (floating); angles are computed in float64.
        """
        return sinusoidal_embedding(positions, self.dim, self.base, dtype=dtype)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, base={self.base}"


class LearnedPositionalEmbedding(PositionScheme):
    """A trainable table with one vector per position (BERT, GPT-2).

    Gehring et al. (2017) "Convolutional Sequence to Sequence Learning" and Devlin et al.
    (2019, BERT) learn a ``[num_positions, dim]`` table. It cannot represent a position
    past its last row; asking for one raises :class:`IndexError` instead of wrapping or
    clamping. A scheme of kind ``"embed"``. Book chapter: "Absolute positions".

    Args:
        num_positions: table size (largest usable position is ``num_positions - 1``).
        dim: embedding width.
        init_std: standard deviation of the normal initialisation (0.02: BERT's
            initializer range and Hugging Face's default; OpenAI's GPT-2 code draws its
            position table with 0.01).
    """

    kind = "embed"

    def __init__(self, num_positions: int, dim: int, init_std: float = 0.02) -> None:
        super().__init__()
        self.num_positions = check_int("num_positions", num_positions, minimum=1)
        self.dim = check_int("dim", dim, minimum=1)
        self.weight = nn.Parameter(torch.empty(num_positions, dim))  # [n_max, dim]
        nn.init.normal_(self.weight, std=check_positive_float("init_std", init_std))

    def embed_positions(self, positions: torch.Tensor | int | list[int]) -> torch.Tensor:
        """Return rows ``weight[positions]``: ``[..., dim]`` for integer ``positions`` ``[...]``.

        The range check reads the positions (a host synchronisation), eagerly only; under
        ``torch.compile`` an out-of-range index fails inside the lookup instead.

        Args:
            positions: integer tensor of any shape ``[...]`` (or an int / list of ints), each
                in ``[0, num_positions - 1]``.

        Raises:
            IndexError: a position lies outside the table (checked eagerly only).
        """
        pos = as_positions(positions, integer=True)
        checkable = pos.device.type != "meta" and not torch.compiler.is_compiling()
        if pos.numel() > 0 and checkable:
            lo, hi = int(pos.min()), int(pos.max())
            if lo < 0 or hi >= self.num_positions:
                bad = lo if lo < 0 else hi
                raise IndexError(
                    f"positions must lie in [0, {self.num_positions - 1}] for a learned table "
                    f"of num_positions={self.num_positions}, got position {bad}"
                )
        return self.weight[pos.to(self.weight.device)]  # [..., dim]

    def extra_repr(self) -> str:
        return f"num_positions={self.num_positions}, dim={self.dim}"
