"""posemb: positional embeddings for transformers, organised by where position enters.

1. added to the input (:mod:`posemb.absolute`);
2. rotating queries and keys (:mod:`posemb.rotary`);
3. biasing attention logits (:mod:`posemb.relative`, :mod:`posemb.bias`,
   :mod:`posemb.contextual`).

:class:`posemb.attention.MultiHeadAttention` accepts any scheme. The companion library of the
book on positional embeddings; every chapter imports it.
"""

from . import model, tasks, training  # the applications chapters use these submodules by name
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
from .bias import ALiBi, FireBias, KerpleBias, alibi_bias, alibi_slopes, kerple_bias
from .contextual import CoPE, cope_bias, cope_positions
from .model import SCHEMES, DecoderLM, Encoder, EncoderDecoder, ModelConfig, make_scheme
from .relative import ShawRelativeKeys, T5RelativeBias, relative_positions, t5_bucket
from .rotary import (
    ROPE_TYPES,
    Rotary,
    RotaryEmbedding,
    XPos,
    apply_rope,
    apply_rope_reference,
    apply_xpos,
    convert_qk_weights,
    convert_rope_layout,
    rope_angles,
    rope_cos_sin,
    rope_frequencies,
    rope_permutation,
    xpos_scale,
    xpos_zeta,
)
from .training import TrainConfig, seed_everything, train

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
    # rotary
    "ROPE_TYPES",
    "rope_frequencies",
    "rope_angles",
    "rope_cos_sin",
    "apply_rope",
    "apply_rope_reference",
    "RotaryEmbedding",
    "Rotary",
    "xpos_zeta",
    "xpos_scale",
    "apply_xpos",
    "XPos",
    "rope_permutation",
    "convert_rope_layout",
    "convert_qk_weights",
    # relative
    "relative_positions",
    "t5_bucket",
    "T5RelativeBias",
    "ShawRelativeKeys",
    # bias
    "alibi_slopes",
    "alibi_bias",
    "ALiBi",
    "kerple_bias",
    "KerpleBias",
    "FireBias",
    # contextual
    "cope_positions",
    "cope_bias",
    "CoPE",
    # small transformers for the applications chapters
    "SCHEMES",
    "ModelConfig",
    "make_scheme",
    "Encoder",
    "DecoderLM",
    "EncoderDecoder",
    "TrainConfig",
    "seed_everything",
    "train",
    "model",
    "tasks",
    "training",
]
