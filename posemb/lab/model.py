"""Small transformers whose position scheme is one argument (book part "Applications").

Three shapes share one pre-LayerNorm block:

* :class:`Encoder` (bidirectional; classification and question answering),
* :class:`DecoderLM` (causal; character-level language modelling),
* :class:`EncoderDecoder` (a bidirectional encoder, a causal decoder and cross-attention;
  the toy "translation" task).

``scheme`` is a name from :data:`posemb.SCHEME_NAMES` (built by :func:`posemb.scheme`;
``"nope"`` is no position at all) or any :class:`posemb.PositionScheme`. Schemes of kind
``"embed"`` (sinusoidal, learned) are added to the token embeddings at the input; the
other kinds go to :class:`posemb.MultiHeadAttention` in every self-attention layer.
One scheme object is
shared by all self-attention layers of a stack, as T5 shares its bucket table
(Raffel et al. 2020). Cross-attention carries no positions (as in T5): the decoder finds
source tokens by content, and the encoder has already written their positions into them.

Notation: ``b`` batch, ``n`` sequence length, ``m`` source length, ``dim`` model width,
``h`` heads, ``d`` head dim, ``V`` vocabulary size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import MultiHeadAttention, PositionScheme, attention, check_scheme
from ..registry import SCHEME_NAMES
from ..registry import scheme as build_scheme

__all__ = [
    "SCHEMES",
    "ModelConfig",
    "make_scheme",
    "Block",
    "CrossAttention",
    "Encoder",
    "DecoderLM",
    "EncoderDecoder",
    "count_parameters",
]

#: Scheme names understood by :func:`make_scheme`, in the order the book plots them.
SCHEMES = ("nope", "sinusoidal", "learned", "rope", "t5", "alibi", "kerple", "fire")


@dataclass
class ModelConfig:
    """Size and position scheme of a small transformer.

    The defaults give a model of about 0.1 M parameters that trains in seconds on one CPU
    thread, which is what the book's live notebooks need.
    """

    vocab_size: int
    #: model width; 64 is the smallest width where 4 heads still get 16 dims each.
    dim: int = 64
    #: heads; ALiBi's slopes 2^-2, 2^-4, ... need a few heads to cover near and far.
    num_heads: int = 4
    #: layers per stack; two are enough for an induction-style "find x, read its neighbour".
    num_layers: int = 2
    #: feed-forward width = ffn_mult * dim, as in Vaswani et al. (2017).
    ffn_mult: int = 4
    #: scheme name (see :data:`SCHEMES`).
    scheme: str = "rope"
    #: rows of a learned position table: positions past it raise IndexError.
    max_len: int = 128
    #: output classes for :class:`Encoder` heads (None: a per-token vocabulary head).
    num_classes: int | None = None
    #: dropout; 0 keeps training deterministic and the tiny tasks do not overfit.
    dropout: float = 0.0
    #: init std of a learned position table. 1.0 matches the N(0, 1) token table (and the
    #: unit amplitude of a sinusoid); BERT's 0.02 next to N(0, 1) tokens leaves positions
    #: too faint to be found in a few hundred steps (see the Applications chapter).
    learned_init_std: float = 1.0
    #: FIRE's initial threshold ``L``; ``None`` uses ``max_len``, the training length, so
    #: that FIRE's progressive interpolation (dividing by ``psi(i)`` once ``i > L``) engages
    #: exactly past the training positions. posemb's own default (512) sits far above the
    #: book's 16-32 training positions, where FIRE never normalises and is just a learned
    #: log-distance bias.
    fire_threshold: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def make_scheme(
    name: str,
    *,
    dim: int,
    num_heads: int,
    max_len: int,
    causal: bool,
    learned_init_std: float = 1.0,
    fire_threshold: float | None = None,
) -> PositionScheme | None:
    """Build the scheme called ``name`` for a stack of width ``dim`` with ``num_heads`` heads.

    A thin layer over :func:`posemb.scheme` with this module's choices: a learned table of
    ``max_len`` rows initialised with ``learned_init_std``, KERPLE's logarithmic variant,
    FIRE's threshold starting at ``fire_threshold`` (``None``: at ``max_len``).
    Any name in :data:`posemb.SCHEME_NAMES` works; the book plots :data:`SCHEMES`. Returns
    ``None`` for ``"nope"``.
    """
    if name not in SCHEME_NAMES:
        raise ValueError(f"scheme must be one of {SCHEME_NAMES}, got {name!r}")
    check_divisible(dim, num_heads)
    if name == "nope":
        return None
    options: dict = {}
    if name == "learned":
        options["init_std"] = learned_init_std
    if name == "fire":
        options["init_threshold"] = float(max_len if fire_threshold is None else fire_threshold)
    return build_scheme(
        name,
        num_heads=num_heads,
        head_dim=dim // num_heads,
        causal=causal,
        max_positions=max_len,
        **options,
    )


def check_divisible(dim: int, num_heads: int) -> None:
    if dim % num_heads:
        raise ValueError(
            f"dim must be divisible by num_heads, got dim={dim}, num_heads={num_heads}"
        )


def _resolve(scheme: str | object | None, cfg: ModelConfig, causal: bool) -> object | None:
    if isinstance(scheme, str):
        return make_scheme(
            scheme,
            dim=cfg.dim,
            num_heads=cfg.num_heads,
            max_len=cfg.max_len,
            causal=causal,
            learned_init_std=cfg.learned_init_std,
            fire_threshold=cfg.fire_threshold,
        )
    if scheme is not None:
        check_scheme(scheme)
    return scheme


class CrossAttention(nn.Module):
    """Decoder-to-encoder attention without positions, on top of :func:`posemb.attention`."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(
                f"dim must be divisible by num_heads, got dim={dim}, num_heads={num_heads}"
            )
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape  # x: [b, n, dim]
        m = memory.shape[1]  # memory: [b, m, dim]
        q = self.q(x).view(b, n, self.num_heads, self.head_dim).transpose(1, 2)  # [b, h, n, d]
        kv = self.kv(memory).view(b, m, 2, self.num_heads, self.head_dim)  # [b, m, 2, h, d]
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)  # each [b, h, m, d]
        out = attention(q, k, v)  # [b, h, n, d]
        return self.out(out.transpose(1, 2).reshape(b, n, self.dim))  # [b, n, dim]


class Block(nn.Module):
    """Pre-LayerNorm transformer block: self-attention, optional cross-attention, MLP."""

    def __init__(
        self, cfg: ModelConfig, scheme: object | None, causal: bool, cross: bool = False
    ) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.dim)
        in_attention = scheme if scheme is not None and scheme.kind != "embed" else None
        # One scheme shared by every block, registered once by the stack, so that its
        # parameters appear once in ``model.parameters()`` and the ``state_dict``.
        self.attn = MultiHeadAttention(
            cfg.dim, cfg.num_heads, scheme=in_attention, causal=causal, register_scheme=False
        )
        self.ln_cross = nn.LayerNorm(cfg.dim) if cross else None
        self.cross = CrossAttention(cfg.dim, cfg.num_heads) if cross else None
        self.ln2 = nn.LayerNorm(cfg.dim)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.dim, cfg.ffn_mult * cfg.dim),
            nn.GELU(),
            nn.Linear(cfg.ffn_mult * cfg.dim, cfg.dim),
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self,
        x: torch.Tensor,  # [b, n, dim]
        positions: torch.Tensor,  # [n]
        memory: torch.Tensor | None = None,  # [b, m, dim]
    ) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x), positions=positions))
        if self.cross is not None:
            if memory is None:
                raise ValueError("a block with cross-attention needs memory [b, m, dim]")
            x = x + self.drop(self.cross(self.ln_cross(x), memory))
        return x + self.drop(self.mlp(self.ln2(x)))  # [b, n, dim]


class _Stack(nn.Module):
    """Token embedding, the scheme's input embedding (if any), blocks, final LayerNorm."""

    def __init__(
        self, cfg: ModelConfig, scheme: str | object | None, causal: bool, cross: bool = False
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.scheme = _resolve(scheme, cfg, causal)  # registered once, here
        self.tok = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.blocks = nn.ModuleList(
            Block(cfg, self.scheme, causal, cross) for _ in range(cfg.num_layers)
        )
        self.ln_f = nn.LayerNorm(cfg.dim)

    def forward(
        self,
        tokens: torch.Tensor,  # [b, n]
        positions: torch.Tensor | None = None,  # [n] or [b, n]
        memory: torch.Tensor | None = None,  # [b, m, dim]
    ) -> torch.Tensor:
        if tokens.dim() != 2:
            raise ValueError(f"tokens must have shape [b, n], got {tuple(tokens.shape)}")
        n = tokens.shape[1]
        if positions is None:
            positions = torch.arange(n, device=tokens.device)  # [n]
        x = self.tok(tokens)  # [b, n, dim]; N(0, 1) entries, the scale of a sinusoid
        if self.scheme is not None and self.scheme.kind == "embed":
            x = x + self.scheme(positions).to(x.dtype)  # [b, n, dim]
        for block in self.blocks:
            x = block(x, positions, memory)
        return self.ln_f(x)  # [b, n, dim]


class Encoder(nn.Module):
    """Bidirectional encoder with a head: per-token logits, or one class per sequence.

    With ``cfg.num_classes`` set, ``pool="mean"`` averages the tokens (order-blind unless a
    scheme adds positions) and ``pool="last"`` reads the last token (where a question is
    put in the question-answering task). Otherwise logits over the vocabulary per token.
    """

    def __init__(self, cfg: ModelConfig, scheme: str | object | None = None, pool: str = "mean"):
        super().__init__()
        if pool not in ("mean", "last"):
            raise ValueError(f"pool must be 'mean' or 'last', got {pool!r}")
        self.cfg, self.pool = cfg, pool
        self.stack = _Stack(cfg, cfg.scheme if scheme is None else scheme, causal=False)
        self.head = nn.Linear(cfg.dim, cfg.num_classes or cfg.vocab_size)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor | None = None):
        h = self.stack(tokens, positions)  # [b, n, dim]
        if self.cfg.num_classes is None:
            return self.head(h)  # [b, n, V]
        pooled = h.mean(dim=1) if self.pool == "mean" else h[:, -1]  # [b, dim]
        return self.head(pooled)  # [b, classes]


class DecoderLM(nn.Module):
    """Causal (decoder-only) language model: logits ``[b, n, V]`` for the next token."""

    def __init__(self, cfg: ModelConfig, scheme: str | object | None = None):
        super().__init__()
        self.cfg = cfg
        self.stack = _Stack(cfg, cfg.scheme if scheme is None else scheme, causal=True)
        self.head = nn.Linear(cfg.dim, cfg.vocab_size)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor | None = None):
        return self.head(self.stack(tokens, positions))  # [b, n, V]

    def loss(self, tokens: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy (nats) over every position of ``tokens`` ``[b, n]``."""
        logits = self(tokens[:, :-1])  # [b, n-1, V]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))


class EncoderDecoder(nn.Module):
    """Encoder-decoder (Vaswani et al. 2017 shape, pre-LN) with one scheme for both stacks.

    The encoder gets a bidirectional copy of the scheme, the decoder a causal one (they are
    separate objects with separate parameters, as in T5's two bucket tables).
    """

    def __init__(self, cfg: ModelConfig, scheme: str | object | None = None):
        super().__init__()
        self.cfg = cfg
        name = cfg.scheme if scheme is None else scheme
        if not isinstance(name, str):
            raise TypeError("EncoderDecoder takes a scheme name (it builds two copies)")
        self.encoder = _Stack(cfg, name, causal=False)
        self.decoder = _Stack(cfg, name, causal=True, cross=True)
        self.head = nn.Linear(cfg.dim, cfg.vocab_size)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        memory = self.encoder(src)  # [b, m, dim]
        return self.head(self.decoder(tgt_in, memory=memory))  # [b, n, V]

    @torch.no_grad()
    def generate(self, src: torch.Tensor, bos: int, length: int) -> torch.Tensor:
        """Greedy decoding of ``length`` tokens after ``bos``: ``[b, length]``."""
        memory = self.encoder(src)  # [b, m, dim]
        out = torch.full((src.shape[0], 1), bos, dtype=torch.long, device=src.device)
        for _ in range(length):
            logits = self.head(self.decoder(out, memory=memory))[:, -1]  # [b, V]
            out = torch.cat([out, logits.argmax(-1, keepdim=True)], dim=1)
        return out[:, 1:]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (each shared tensor counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
