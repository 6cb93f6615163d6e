"""Argument checks shared by every module.

Each helper raises an exception whose message names the offending argument and the values
it may take, so a wrong call fails loudly at the line that made it.
"""

from __future__ import annotations

import torch

LAYOUTS = ("half", "interleaved")


def check_int(name: str, value: object, *, minimum: int = 0) -> int:
    """Return ``value`` if it is a Python int (not bool) at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return value


def check_even(name: str, value: object, *, minimum: int = 2) -> int:
    """Return ``value`` if it is an even int at least ``minimum`` (features come in pairs)."""
    check_int(name, value, minimum=minimum)
    if value % 2:  # type: ignore[operator]
        raise ValueError(
            f"{name} must be even (features are rotated/encoded in pairs), got {value}"
        )
    return value  # type: ignore[return-value]


def check_positive_float(name: str, value: object) -> float:
    """Return ``value`` as float if it is a finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a positive real number, got {type(value).__name__}")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite real number > 0, got {value}")
    return float(value)


def check_layout(layout: object) -> str:
    """Return ``layout`` if it is one of the rotary layouts."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    return layout  # type: ignore[return-value]


def as_positions(positions: object, *, integer: bool = False) -> torch.Tensor:
    """Turn ``positions`` (tensor, int or nested list) into a tensor.

    Integer inputs become int64. Real (floating) inputs are kept as given, which allows
    fractional positions (position interpolation) unless ``integer`` is true.
    """
    if isinstance(positions, torch.Tensor):
        t = positions
    elif isinstance(positions, int | list | tuple | range):
        t = torch.as_tensor(list(positions) if isinstance(positions, range) else positions)
    else:
        raise TypeError(
            f"positions must be a tensor, an int or a list of ints, got {type(positions).__name__}"
        )
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"positions must hold integers or real numbers, got dtype {t.dtype}")
    if integer and t.is_floating_point():
        raise TypeError(f"positions must hold integers (a learned table is indexed), got {t.dtype}")
    return t


def check_qk(q: torch.Tensor, k: torch.Tensor) -> None:
    """Check that ``q`` [b, h, q, d] and ``k`` [b, h, k, d] agree on batch, heads and d."""
    for name, t in (("q", q), ("k", k)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"{name} must be a tensor of shape [b, h, n, d], got {type(t).__name__}"
            )
        if t.dim() != 4:
            raise ValueError(f"{name} must have shape [b, h, n, d] (4 dims), got {tuple(t.shape)}")
    if q.shape[0] != k.shape[0] or q.shape[1] != k.shape[1] or q.shape[3] != k.shape[3]:
        raise ValueError(
            "q [b, h, q, d] and k [b, h, k, d] must agree on b, h and d, "
            f"got q {tuple(q.shape)} and k {tuple(k.shape)}"
        )


def check_seq_positions(name: str, positions: torch.Tensor, length: int) -> None:
    """Check that ``positions`` is 1-D of length ``length`` (one position per token)."""
    if positions.dim() != 1 or positions.shape[0] != length:
        raise ValueError(
            f"{name} must have shape [{length}] (one position per token), "
            f"got {tuple(positions.shape)}"
        )
