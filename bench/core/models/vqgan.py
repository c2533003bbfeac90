"""A Flax VQGAN (taming-transformers architecture), weight-compatible with
`dalle-mini/vqgan_imagenet_f16_16384`.

Parameter names and shapes follow the published checkpoint exactly (the
conformance suite compares the freshly initialised tree against it), so the
module names below are part of the file format, not a style choice.
Images are NHWC; decoded pixels are raw (the pipeline clips them to [0, 1]).
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from transformers import PretrainedConfig
from transformers.modeling_flax_utils import FlaxPreTrainedModel


class VQGANConfig(PretrainedConfig):
    model_type = "vqgan"

    def __init__(
        self,
        ch: int = 128,
        out_ch: int = 3,
        in_channels: int = 3,
        num_res_blocks: int = 2,
        resolution: int = 256,
        z_channels: int = 256,
        ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
        attn_resolutions: Sequence[int] = (16,),
        n_embed: int = 1024,
        embed_dim: int = 256,
        dropout: float = 0.0,
        double_z: bool = False,
        give_pre_end: bool = False,
        **kwargs,
    ):
        # The published configs carry `resamp_with_conv: true`; this model always
        # resamples with convolutions, so the other layout is refused, not ignored.
        if not kwargs.pop("resamp_with_conv", True):
            raise ValueError("resamp_with_conv = false is not supported: this VQGAN resamples with convolutions")
        super().__init__(**kwargs)
        self.ch = ch
        self.out_ch = out_ch
        self.in_channels = in_channels
        self.num_res_blocks = num_res_blocks
        self.resolution = resolution
        self.z_channels = z_channels
        self.ch_mult = list(ch_mult)
        self.attn_resolutions = list(attn_resolutions)
        self.n_embed = n_embed
        self.embed_dim = embed_dim
        self.dropout = dropout
        self.double_z = double_z
        self.give_pre_end = give_pre_end
        self.num_resolutions = len(self.ch_mult)

    @property
    def downsampling_factor(self) -> int:
        return 2 ** (self.num_resolutions - 1)


def _conv(features: int, kernel: int, dtype, name: str | None = None, stride: int = 1, padding=None):
    if padding is None:
        padding = ((kernel // 2, kernel // 2),) * 2
    return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding=padding, dtype=dtype, name=name)


def _group_norm(dtype, name: str):
    return nn.GroupNorm(num_groups=32, epsilon=1e-6, dtype=dtype, name=name)


class ResnetBlock(nn.Module):
    out_channels: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        h = _conv(self.out_channels, 3, self.dtype, "conv1")(nn.swish(_group_norm(self.dtype, "norm1")(x)))
        h = _conv(self.out_channels, 3, self.dtype, "conv2")(nn.swish(_group_norm(self.dtype, "norm2")(h)))
        if x.shape[-1] != self.out_channels:
            x = _conv(self.out_channels, 1, self.dtype, "nin_shortcut", padding="VALID")(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention over all H*W positions."""

    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        batch, height, width, channels = x.shape
        h = _group_norm(self.dtype, "norm")(x)
        q, k, v = (_conv(channels, 1, self.dtype, name, padding="VALID")(h).reshape(batch, height * width, channels)
                   for name in ("q", "k", "v"))
        weights = jax.nn.softmax(jnp.einsum("bqc,bkc->bqk", q, k) * channels**-0.5, axis=-1)
        h = jnp.einsum("bqk,bkc->bqc", weights, v).reshape(batch, height, width, channels)
        return x + _conv(channels, 1, self.dtype, "proj_out", padding="VALID")(h)


class Downsample(nn.Module):
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        # taming-transformers pads right/bottom only, then a stride-2 VALID conv.
        x = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
        return _conv(x.shape[-1], 3, self.dtype, "conv", stride=2, padding="VALID")(x)


class Upsample(nn.Module):
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        batch, height, width, channels = x.shape
        x = jax.image.resize(x, (batch, height * 2, width * 2, channels), method="nearest")
        return _conv(channels, 3, self.dtype, "conv")(x)


class Level(nn.Module):
    """One resolution level: res blocks (each followed by attention at the
    attention resolutions), then an optional resampling step."""

    out_channels: int
    num_blocks: int
    with_attention: bool
    resample: str | None  # "down", "up" or None
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        for i in range(self.num_blocks):
            x = ResnetBlock(self.out_channels, self.dtype, name=f"block_{i}")(x)
            if self.with_attention:
                x = AttnBlock(self.dtype, name=f"attn_{i}")(x)
        if self.resample == "down":
            x = Downsample(self.dtype, name="downsample")(x)
        elif self.resample == "up":
            x = Upsample(self.dtype, name="upsample")(x)
        return x


class MidBlock(nn.Module):
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        channels = x.shape[-1]
        x = ResnetBlock(channels, self.dtype, name="block_1")(x)
        x = AttnBlock(self.dtype, name="attn_1")(x)
        return ResnetBlock(channels, self.dtype, name="block_2")(x)


class Encoder(nn.Module):
    config: VQGANConfig
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, pixels):
        cfg = self.config
        x = _conv(cfg.ch, 3, self.dtype, "conv_in")(pixels)
        resolution = cfg.resolution
        for level, mult in enumerate(cfg.ch_mult):
            last = level == cfg.num_resolutions - 1
            x = Level(cfg.ch * mult, cfg.num_res_blocks, resolution in cfg.attn_resolutions,
                      None if last else "down", self.dtype, name=f"down_{level}")(x)
            if not last:
                resolution //= 2
        x = MidBlock(self.dtype, name="mid")(x)
        x = nn.swish(_group_norm(self.dtype, "norm_out")(x))
        z_channels = 2 * cfg.z_channels if cfg.double_z else cfg.z_channels
        return _conv(z_channels, 3, self.dtype, "conv_out")(x)


class Decoder(nn.Module):
    config: VQGANConfig
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z):
        cfg = self.config
        x = _conv(cfg.ch * cfg.ch_mult[-1], 3, self.dtype, "conv_in")(z)
        x = MidBlock(self.dtype, name="mid")(x)
        resolution = cfg.resolution // cfg.downsampling_factor
        # Levels run from the coarsest (highest index) to the finest; the
        # decoder has one more res block per level than the encoder.
        for level in reversed(range(cfg.num_resolutions)):
            x = Level(cfg.ch * cfg.ch_mult[level], cfg.num_res_blocks + 1, resolution in cfg.attn_resolutions,
                      "up" if level != 0 else None, self.dtype, name=f"up_{level}")(x)
            if level != 0:
                resolution *= 2
        if cfg.give_pre_end:
            return x
        x = nn.swish(_group_norm(self.dtype, "norm_out")(x))
        return _conv(cfg.out_ch, 3, self.dtype, "conv_out")(x)


class VQModule(nn.Module):
    config: VQGANConfig
    dtype: jnp.dtype = jnp.float32

    def setup(self):
        cfg = self.config
        self.encoder = Encoder(cfg, self.dtype)
        self.decoder = Decoder(cfg, self.dtype)
        self.quantize = Codebook(cfg.n_embed, cfg.embed_dim, self.dtype)
        self.quant_conv = _conv(cfg.embed_dim, 1, self.dtype, padding="VALID")
        self.post_quant_conv = _conv(cfg.z_channels, 1, self.dtype, padding="VALID")

    def encode(self, pixels):
        """Images (B, H, W, 3) -> (quantised latents, codebook indices (B, h*w))."""
        return self.quantize(self.quant_conv(self.encoder(pixels)))

    def decode(self, latents):
        return self.decoder(self.post_quant_conv(latents))

    def decode_code(self, codes):
        """Codebook indices (B, h*w) on a square grid -> images (B, H, W, 3)."""
        return self.decode(self.quantize.lookup(codes))

    def __call__(self, pixels):
        latents, codes = self.encode(pixels)
        return self.decode(latents), codes


class Codebook(nn.Module):
    n_embed: int
    embed_dim: int
    dtype: jnp.dtype = jnp.float32

    def setup(self):
        self.embedding = nn.Embed(self.n_embed, self.embed_dim, dtype=self.dtype)

    def __call__(self, latents):
        flat = latents.reshape(-1, self.embed_dim)
        table = self.embedding.embedding
        # |z - e|^2 expanded, so no (N, n_embed, dim) tensor is materialised.
        distance = (jnp.sum(flat**2, axis=1, keepdims=True) + jnp.sum(table**2, axis=1)
                    - 2 * flat @ table.T)
        codes = jnp.argmin(distance, axis=1)
        quantised = self.embedding(codes).reshape(latents.shape)
        return quantised, codes.reshape(latents.shape[0], -1)

    def lookup(self, codes):
        batch, tokens = codes.shape
        side = math.isqrt(tokens)
        if side * side != tokens:
            raise ValueError(f"{tokens} codes do not form a square grid")
        return self.embedding(codes).reshape(batch, side, side, self.embed_dim)


class VQModel(FlaxPreTrainedModel):
    """Hub-compatible wrapper: `from_pretrained` loads `config.json` +
    `flax_model.msgpack` from a folder or a Hub id, `save_pretrained` writes them."""

    config_class = VQGANConfig
    base_model_prefix = "model"
    module_class = VQModule

    def __init__(self, config: VQGANConfig, input_shape=None, seed: int = 0,
                 dtype: jnp.dtype = jnp.float32, _do_init: bool = True, **kwargs):
        if input_shape is None:
            input_shape = (1, config.resolution, config.resolution, config.in_channels)
        module = self.module_class(config=config, dtype=dtype, **kwargs)
        super().__init__(config, module, input_shape=input_shape, seed=seed, dtype=dtype, _do_init=_do_init)

    def init_weights(self, rng, input_shape, params=None):
        return self.module.init(rng, jnp.zeros(input_shape, jnp.float32))["params"]

    def encode(self, pixels, params=None):
        return self.module.apply({"params": params or self.params}, pixels, method=VQModule.encode)

    def decode_code(self, codes, params=None):
        return self.module.apply({"params": params or self.params}, jnp.asarray(codes, jnp.int32),
                                 method=VQModule.decode_code)

    def __call__(self, pixels, params=None):
        return self.module.apply({"params": params or self.params}, pixels)
