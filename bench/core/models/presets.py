"""Named model configurations: the registry behind `--preset`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench import data
from bench.base.errors import did_you_mean


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    dalle: str
    vqgan: str
    clip: str
    dalle_config: dict = field(repr=False)
    vqgan_config: dict = field(repr=False)
    clip_config: dict = field(repr=False)
    vqgan_revision: str | None = None
    built_locally: bool = False
    """True for presets whose checkpoints the project builds itself (no download)."""
    shipped_checkpoints: str | None = None
    """A built-locally preset's trained checkpoints: their folder in the package data (bench/data);
    None: random weights."""

    @property
    def checkpoints(self) -> Path | None:
        """The trained checkpoints' folder on disk, or None. Resolved when asked, not at import: the
        registry is imported by every command line, and a zip install must be refused in one line."""
        return None if self.shipped_checkpoints is None else data.path(*self.shipped_checkpoints.split("/"))

    @property
    def random_only(self) -> bool:
        """Built here with random weights (tiny): there is nothing pretrained to load."""
        return self.built_locally and self.shipped_checkpoints is None


_DALLEBART_COMMON = dict(
    image_length=256, max_text_length=64, ln_type="layernorm", ln_positions="normformer", use_glu=True,
    use_bias=False, use_final_ln_encoder=True, use_final_ln_decoder=True, force_ln_scale=False,
    scale_embedding=False, tie_word_embeddings=False, activation_function="gelu", dropout=0.0,
    attention_dropout=0.0, activation_dropout=0.0, use_scan=True, do_sample=True,
)

# The published vqgan_imagenet_f16_16384 configuration.
VQGAN_F16_16384 = dict(ch=128, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2, attn_resolutions=[16], resolution=256,
                       z_channels=256, embed_dim=256, n_embed=16384, out_ch=3, in_channels=3, dropout=0.0)

# The original notebook re-ranks with openai/clip-vit-large-patch14; its architecture, for random weights.
# (Evaluation's CLIP score keeps ViT-B/32 by default, the convention MLPerf's text-to-image scoring uses.)
CLIP_VIT_L14 = dict(
    text_config=dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12),
    vision_config=dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=24,
                       image_size=224, patch_size=14),
    projection_dim=768)

TINY_IMAGE_VOCAB = 1024
SHAPES_CODEBOOK = 16


def _published(name: str, description: str, dalle: str, *, d_model: int, layers: int, heads: int, ffn_dim: int,
               encoder_vocab_size: int, image_vocab_size: int, init_std: float) -> Preset:
    """A published DalleBart with the published VQGAN and the notebook's re-ranking CLIP (ViT-L/14).
    Token ids as in the published config.json (end-of-sequence 16385 lies past
    mini's logits, so nothing is masked there: the reference behaves the same)."""
    return Preset(
        name=name, description=description, dalle=dalle, vqgan="dalle-mini/vqgan_imagenet_f16_16384",
        vqgan_revision="e93a26e7707683d349bf5d5c41c5b0ef69b677a9", clip="openai/clip-vit-large-patch14",
        dalle_config=dict(_DALLEBART_COMMON, d_model=d_model, encoder_layers=layers, decoder_layers=layers,
                          encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=ffn_dim,
                          decoder_ffn_dim=ffn_dim, encoder_vocab_size=encoder_vocab_size,
                          image_vocab_size=image_vocab_size, bos_token_id=16385, eos_token_id=16385,
                          pad_token_id=16385, decoder_start_token_id=16384, min_length=257, max_length=257,
                          normalize_text=True, init_std=init_std),
        vqgan_config=VQGAN_F16_16384, clip_config=CLIP_VIT_L14,
    )


PRESETS = {
    "tiny": Preset(
        name="tiny",
        description="small random DalleBart + f16 VQGAN + CLIP built locally; real geometry, seconds per image",
        dalle="tiny/dallebart", vqgan="tiny/vqgan", clip="tiny/clip", built_locally=True,
        dalle_config=dict(_DALLEBART_COMMON, d_model=128, encoder_layers=2, decoder_layers=2,
                          encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=256,
                          decoder_ffn_dim=256, image_vocab_size=TINY_IMAGE_VOCAB,
                          bos_token_id=TINY_IMAGE_VOCAB, eos_token_id=TINY_IMAGE_VOCAB,
                          pad_token_id=TINY_IMAGE_VOCAB, decoder_start_token_id=TINY_IMAGE_VOCAB,
                          min_length=257, max_length=257, normalize_text=False, init_std=0.02),
        vqgan_config=dict(ch=32, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=1, attn_resolutions=[16], resolution=256,
                          z_channels=64, embed_dim=64, n_embed=TINY_IMAGE_VOCAB, out_ch=3, in_channels=3),
        clip_config=dict(
            text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                             max_position_embeddings=77, vocab_size=514, eos_token_id=513, bos_token_id=512,
                             pad_token_id=513),
            vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                               image_size=64, patch_size=16),
            projection_dim=64),
    ),
    "shapes": Preset(
        name="shapes",
        description="DalleBart + f16 VQGAN + CLIP trained on the shapes world (committed checkpoints); "
                    "adherence measurable",
        dalle="shapes/dallebart", vqgan="shapes/vqgan", clip="shapes/clip", built_locally=True,
        shipped_checkpoints="checkpoints/shapes",
        dalle_config=dict(_DALLEBART_COMMON, d_model=128, encoder_layers=2, decoder_layers=4,
                          encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=256,
                          decoder_ffn_dim=256, image_vocab_size=SHAPES_CODEBOOK, bos_token_id=SHAPES_CODEBOOK,
                          eos_token_id=SHAPES_CODEBOOK, pad_token_id=SHAPES_CODEBOOK,
                          decoder_start_token_id=SHAPES_CODEBOOK, min_length=257, max_length=257,
                          max_text_length=20, normalize_text=False, init_std=0.02),
        # Real f16 geometry (five levels, 16x16 codes), as narrow as GroupNorm's 32 groups allow, one
        # res block a level in the decoder: a whole-image training step must fit this CPU. The outer
        # level has 64 channels, two a group, so a flat colour survives the last GroupNorm (vqgan.py).
        vqgan_config=dict(ch=32, ch_mult=[2, 1, 1, 1, 1], num_res_blocks=0, attn_resolutions=[], resolution=256,
                          z_channels=32, embed_dim=8, n_embed=SHAPES_CODEBOOK, out_ch=3, in_channels=3),
        clip_config=dict(
            text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                             max_position_embeddings=24),
            vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                               image_size=64, patch_size=8),
            projection_dim=64),
    ),
    "mini": _published("mini", "DALL·E Mini (mini-1, 0.4 B parameters)", "dalle-mini/dalle-mini",
                       d_model=1024, layers=12, heads=16, ffn_dim=2730, encoder_vocab_size=50264,
                       image_vocab_size=16384, init_std=0.02),
    "mega": _published("mega", "DALL·E Mega (mega-1, 2.6 B parameters)", "dalle-mini/dalle-mega",
                       d_model=2048, layers=24, heads=32, ffn_dim=4096, encoder_vocab_size=50272,
                       image_vocab_size=16415, init_std=0.01),
}


class UnknownPreset(KeyError):
    pass


def get_preset(name: str) -> Preset:
    if name in PRESETS:
        return PRESETS[name]
    raise UnknownPreset(f"unknown preset '{name}' (known: {', '.join(PRESETS)}){did_you_mean(name, PRESETS)}")
