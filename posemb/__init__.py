"""posemb: positional embeddings for transformers, organised by where position enters.

Every scheme is a :class:`posemb.PositionScheme` that declares its ``kind``:

1. ``"embed"``: added to the input (:mod:`posemb.absolute`);
2. ``"rotate"``: rotating queries and keys (:mod:`posemb.rotary`);
3. ``"bias"`` and ``"content_bias"``: biasing attention logits (:mod:`posemb.relative`,
   :mod:`posemb.bias`, :mod:`posemb.contextual`);

and ``"none"`` (:class:`posemb.NoPE`). :func:`posemb.scheme` builds any of them by name;
:class:`posemb.MultiHeadAttention` accepts any of the attention kinds, with a key/value
cache and grouped-query attention.

``import posemb`` loads only the schemes and attention. The book's laboratory (small
models, tasks, training, the experiments behind the Applications chapters) is the
subpackage :mod:`posemb.lab`, imported on its own. Nothing here changes global state.
"""

from .absolute import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEmbedding,
    inverse_frequencies,
    sinusoidal_embedding,
    sinusoidal_table,
)
from .attention import (
    SCHEME_KINDS,
    KVCache,
    MultiHeadAttention,
    NoPE,
    PositionScheme,
    attention,
    causal_mask,
)
from .bias import (
    ALiBi,
    FireBias,
    KerpleBias,
    alibi_bias,
    alibi_slopes,
    fire_bias,
    fire_distance,
    kerple_bias,
    linear_bias,
)
from .contextual import CoPE, cope_bias, cope_positions
from .registry import SCHEME_NAMES, scheme
from .relative import (
    ShawRelativeKeys,
    T5RelativeBias,
    relative_positions,
    shaw_bias,
    t5_bias,
    t5_bucket,
)
from .rotary import (
    ROPE_BACKENDS,
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

__version__ = "0.3.0"

__all__ = [
    "__version__",
    # the interface and the registry
    "SCHEME_KINDS",
    "PositionScheme",
    "SCHEME_NAMES",
    "scheme",
    # attention
    "NoPE",
    "KVCache",
    "attention",
    "causal_mask",
    "MultiHeadAttention",
    # absolute
    "inverse_frequencies",
    "sinusoidal_embedding",
    "sinusoidal_table",
    "SinusoidalPositionalEmbedding",
    "LearnedPositionalEmbedding",
    # rotary
    "ROPE_TYPES",
    "ROPE_BACKENDS",
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
    "t5_bias",
    "T5RelativeBias",
    "shaw_bias",
    "ShawRelativeKeys",
    # bias
    "alibi_slopes",
    "alibi_bias",
    "linear_bias",
    "ALiBi",
    "kerple_bias",
    "KerpleBias",
    "fire_distance",
    "fire_bias",
    "FireBias",
    # contextual
    "cope_positions",
    "cope_bias",
    "CoPE",
]
