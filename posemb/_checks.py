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
        raise TypeError(f"positions must hold integers (they index a table), got {t.dtype}")
    if not t.is_floating_point() and t.dtype != torch.int64:
        t = t.long()  # uint8 or int16 positions would wrap around in j - i
    check_finite("positions", t)
    return t


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is True or False (a string such as "no" would count as true)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def check_finite(name: str, t: torch.Tensor) -> None:
    """Raise if a floating tensor holds NaN or infinity (integer tensors cannot).

    Eagerly a ``ValueError``; under ``torch.compile`` an asynchronous assert, so that the
    check costs no host synchronisation and no graph break.
    """
    if not t.is_floating_point() or t.device.type == "meta":
        return
    message = f"{name} must be finite, got a tensor holding NaN or infinity"
    ok = torch.isfinite(t).all()
    if torch.compiler.is_compiling():
        torch._assert_async(ok, message)
    elif not bool(ok):
        raise ValueError(message)


def check_float_dtype(name: str, dtype: object) -> torch.dtype:
    """Return ``dtype`` if it is a real floating torch dtype (cos, sin and tables need one)."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(
            f"{name} must be a floating torch dtype (float16, bfloat16, float32, float64), "
            f"got {dtype!r}"
        )
    return dtype


def check_qk(q: torch.Tensor, k: torch.Tensor, *, grouped: bool = False) -> None:
    """Check that ``q`` [b, h, q, d] and ``k`` [b, h, k, d] agree on batch, heads and d.

    With ``grouped`` (grouped-query attention) ``k`` may have fewer heads, a divisor of
    ``q``'s.
    """
    for name, t in (("q", q), ("k", k)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"{name} must be a tensor of shape [b, h, n, d], got {type(t).__name__}"
            )
        if t.dim() != 4:
            raise ValueError(f"{name} must have shape [b, h, n, d] (4 dims), got {tuple(t.shape)}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor, got dtype {t.dtype}")
    heads_ok = q.shape[1] == k.shape[1] or (grouped and q.shape[1] % k.shape[1] == 0)
    if q.shape[0] != k.shape[0] or not heads_ok or q.shape[3] != k.shape[3]:
        what = "b and d, and k's heads must divide q's" if grouped else "b, h and d"
        raise ValueError(
            f"q [b, h, q, d] and k [b, h, k, d] must agree on {what}, "
            f"got q {tuple(q.shape)} and k {tuple(k.shape)}"
        )


def check_seq_positions(
    name: str, positions: torch.Tensor, length: int, batch: int | None = None
) -> None:
    """Check that ``positions`` is ``[length]`` (shared by the batch) or ``[batch, length]``.

    ``batch=None`` accepts only the 1-D form.
    """
    ok = positions.dim() == 1 and positions.shape[0] == length
    if batch is not None:
        ok = ok or (positions.dim() == 2 and tuple(positions.shape) == (batch, length))
    if not ok:
        shapes = f"[{length}]" + ("" if batch is None else f" or [b, n]=[{batch}, {length}]")
        raise ValueError(
            f"{name} must have shape {shapes} (one position per token), "
            f"got {tuple(positions.shape)}"
        )


def pair_positions(
    q_positions: object,
    k_positions: object,
    *,
    integer: bool = False,
    device: torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate query and key positions, each ``[n]`` or ``[b, n]``, and move them to ``device``.

    Per-sequence positions of queries and keys must agree on ``b``.
    """
    qp = as_positions(q_positions, integer=integer)
    kp = as_positions(k_positions, integer=integer)
    for name, p in (("q_positions", qp), ("k_positions", kp)):
        if p.dim() not in (1, 2):
            raise ValueError(
                f"{name} must have shape [n] (shared by the batch) or [b, n], got {tuple(p.shape)}"
            )
    if qp.dim() == 2 and kp.dim() == 2 and qp.shape[0] != kp.shape[0]:
        raise ValueError(
            "q_positions [b, q] and k_positions [b, k] must agree on b, "
            f"got {tuple(qp.shape)} and {tuple(kp.shape)}"
        )
    if device is not None:
        qp, kp = qp.to(device), kp.to(device)
    return qp, kp


def offsets(qp: torch.Tensor, kp: torch.Tensor) -> torch.Tensor:
    """``j - i`` for every query position ``i`` and key position ``j``.

    ``[q, k]``, or ``[b, q, k]`` when either is per sequence.
    """
    return kp[..., None, :] - qp[..., :, None]


def check_positive(name: str, t: torch.Tensor) -> None:
    """Raise if ``t`` has an entry that is not > 0 (eagerly ``ValueError``; see check_finite)."""
    if t.device.type == "meta":
        return
    message = f"{name} must be > 0 everywhere, got a tensor with an entry <= 0 or NaN"
    ok = (t > 0).all()
    if torch.compiler.is_compiling():
        torch._assert_async(ok, message)
    elif not bool(ok):
        raise ValueError(message)
