"""posemb: positional embeddings for transformers, organised by where position enters.

1. added to the input (:mod:`posemb.absolute`);
2. rotating queries and keys (:mod:`posemb.rotary`);
3. biasing attention logits (:mod:`posemb.relative`, :mod:`posemb.bias`,
   :mod:`posemb.contextual`).

:class:`posemb.attention.MultiHeadAttention` accepts any scheme. The companion library of the
book on positional embeddings; every chapter imports it.
"""

from .absolute import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEmbedding,
    inverse_frequencies,
    sinusoidal_embedding,
    sinusoidal_table,
)
from .attention import (
    BiasHook,
    EmbedHook,
    MultiHeadAttention,
    NoPE,
    PositionScheme,
    RotateHook,
    attention,
    causal_mask,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # absolute
    "inverse_frequencies",
    "sinusoidal_embedding",
    "sinusoidal_table",
    "SinusoidalPositionalEmbedding",
    "LearnedPositionalEmbedding",
    # attention
    "PositionScheme",
    "RotateHook",
    "BiasHook",
    "EmbedHook",
    "NoPE",
    "attention",
    "causal_mask",
    "MultiHeadAttention",
]
