"""Roofline arithmetic: FLOPs and bytes moved per image from the model
configurations, and the fraction of the device's roofline a measured time
reaches. Pure functions of frozen shapes; no JAX.

Why analytic: XLA's `cost_analysis()` counts a while-loop body once, so it
reports 1/256 of the sampling loop. The formulas count matrix products
(2 FLOPs per multiply-add) and attention; norms, activations and the sort in
top-k/top-p are left out (a few per cent at most). Bytes are the weights
(read once per program call, so shared by the batch), the key/value caches,
and the activations each layer reads and writes: a lower bound on traffic,
since XLA fuses elementwise work into the products.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    flops: float = 0.0
    bytes: float = 0.0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.flops + other.flops, self.bytes + other.bytes)

    def __mul__(self, factor: float) -> "Cost":
        return Cost(self.flops * factor, self.bytes * factor)

    def seconds(self, peak: "Peak") -> float:
        """Roofline time: bound by compute or by memory, whichever is slower."""
        return max(self.flops / peak.flops, self.bytes / peak.bandwidth)


@dataclass(frozen=True)
class Peak:
    flops: float  # FLOP/s
    bandwidth: float  # bytes/s
    source: str  # "table: <device kind>" or "measured"

    def times(self, factor: int) -> "Peak":
        return Peak(self.flops * factor, self.bandwidth * factor, self.source)


@dataclass(frozen=True)
class DalleBartShape:
    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_ffn: int
    decoder_ffn: int
    glu: bool
    text_length: int
    image_length: int
    vocab_out: int  # logits per step (image vocabulary + 1)

    @classmethod
    def of(cls, config) -> "DalleBartShape":
        return cls(config.d_model, config.encoder_layers, config.decoder_layers, config.encoder_ffn_dim,
                   config.decoder_ffn_dim, bool(config.use_glu), config.max_text_length, config.image_length,
                   config.image_vocab_size + 1)

    def ffn_weights(self, ffn: int) -> int:
        return (3 if self.glu else 2) * self.d_model * ffn


@dataclass(frozen=True)
class VQGANShape:
    ch: int
    ch_mult: tuple[int, ...]
    num_res_blocks: int
    attn_resolutions: tuple[int, ...]
    resolution: int
    z_channels: int
    embed_dim: int
    out_ch: int

    @classmethod
    def of(cls, config) -> "VQGANShape":
        return cls(config.ch, tuple(config.ch_mult), config.num_res_blocks, tuple(config.attn_resolutions),
                   config.resolution, config.z_channels, config.embed_dim, config.out_ch)


@dataclass(frozen=True)
class TowerShape:
    """One CLIP transformer tower."""

    tokens: int
    width: int
    layers: int
    mlp: int


@dataclass(frozen=True)
class ClipShape:
    vision: TowerShape
    text: TowerShape
    patch_size: int
    image_size: int  # the model's input
    source_size: int  # the generated image's, resized in-graph to image_size

    @classmethod
    def of(cls, config, text_length: int, source_size: int = 256) -> "ClipShape":
        v, t = config.vision_config, config.text_config
        patches = (v.image_size // v.patch_size) ** 2 + 1
        return cls(TowerShape(patches, v.hidden_size, v.num_hidden_layers, v.intermediate_size),
                   TowerShape(text_length, t.hidden_size, t.num_hidden_layers, t.intermediate_size), v.patch_size,
                   v.image_size, source_size)


def _linear(rows: float, fan_in: int, fan_out: int, itemsize: int) -> Cost:
    """Activations of `rows` tokens through a weight matrix (weights counted separately)."""
    return Cost(2.0 * rows * fan_in * fan_out, itemsize * rows * (fan_in + fan_out))


def _attention(queries: float, keys: int, width: int, itemsize: int) -> Cost:
    """Scores and weighted values of `queries` over `keys` positions: reads
    the keys and values once, the queries and the output once."""
    return Cost(4.0 * queries * keys * width, itemsize * 2.0 * width * (keys + queries))


def text_encode_cost(shape: DalleBartShape, rows_per_image: float, batch: int, itemsize: int) -> Cost:
    """The BART encoder over the padded prompt, per image (`rows_per_image`
    counts the empty prompt's share with super-conditioning)."""
    d, t = shape.d_model, shape.text_length
    per_layer = (_linear(t, d, 4 * d, itemsize) + _attention(t, t, d, itemsize)
                 + Cost(2.0 * t * shape.ffn_weights(shape.encoder_ffn), itemsize * t * (2 * d + shape.encoder_ffn)))
    weights = shape.encoder_layers * (4 * d * d + shape.ffn_weights(shape.encoder_ffn)) * itemsize
    return per_layer * (shape.encoder_layers * rows_per_image) + Cost(0.0, weights / batch)


def decoder_step_weights(shape: DalleBartShape) -> int:
    """Matrix entries one decoder step reads (`CachedDecoder.step`): per layer
    self-attention q, k, v, o, cross-attention q and o (its keys and values
    are in the cache, projected once per prompt: `cross_kv_weights`) and the
    feed-forward; then the logits. Token and position embeddings are gathered
    one row per token, and norm vectors are O(d): both left out (under 0.5 %
    for mini and mega)."""
    d = shape.d_model
    return shape.decoder_layers * (6 * d * d + shape.ffn_weights(shape.decoder_ffn)) + d * shape.vocab_out


def cross_kv_weights(shape: DalleBartShape) -> int:
    """Matrix entries of the cross-attention key and value projections, read once per program call."""
    return shape.decoder_layers * 2 * shape.d_model ** 2


def sampling_cost(shape: DalleBartShape, rows_per_image: int, batch: int, itemsize: int) -> Cost:
    """The decoder over all image tokens, per image: cross-attention keys and
    values projected once, then per token self-attention over the full cache
    (dalle-mini masks rather than shortens it), cross-attention, feed-forward
    and the logits. Weights are read once per step for the whole batch
    (`decoder_step_weights`); the cross-attention key and value projections
    once per program call."""
    d, t, n = shape.d_model, shape.text_length, shape.image_length
    ffn = shape.ffn_weights(shape.decoder_ffn)
    cross_kv = Cost(2.0 * t * 2 * d * d, itemsize * t * 3 * d) * shape.decoder_layers
    per_layer_step = (
        Cost(2.0 * (4 * d * d + 2 * d * d), itemsize * 8 * d)  # self q,k,v,o and cross q,o on one token
        + _attention(1, n, d, itemsize)  # self-attention over the cache
        + _attention(1, t, d, itemsize)  # cross-attention over the prompt
        + Cost(2.0 * ffn, itemsize * (2 * d + shape.decoder_ffn))
    )
    logits = Cost(2.0 * d * shape.vocab_out, itemsize * (d + shape.vocab_out))
    per_row = cross_kv + (per_layer_step * shape.decoder_layers + logits) * n
    weights = (decoder_step_weights(shape) * n + cross_kv_weights(shape)) * itemsize
    return per_row * rows_per_image + Cost(0.0, weights / batch)


def _conv(height: int, in_ch: int, out_ch: int, kernel: int, itemsize: int) -> Cost:
    pixels = height * height
    return Cost(2.0 * pixels * kernel * kernel * in_ch * out_ch, itemsize * pixels * (in_ch + out_ch))


def _resnet(height: int, in_ch: int, out_ch: int, itemsize: int) -> Cost:
    cost = _conv(height, in_ch, out_ch, 3, itemsize) + _conv(height, out_ch, out_ch, 3, itemsize)
    norms = Cost(0.0, itemsize * height * height * 2 * (in_ch + out_ch))
    shortcut = _conv(height, in_ch, out_ch, 1, itemsize) if in_ch != out_ch else Cost()
    return cost + norms + shortcut


def _spatial_attention(height: int, ch: int, itemsize: int) -> Cost:
    pixels = height * height
    return _conv(height, ch, ch, 1, itemsize) * 4 + Cost(4.0 * pixels * pixels * ch, itemsize * pixels * pixels)


def vqgan_decode_weights(shape: VQGANShape) -> int:
    """Parameter count of the decoder's convolutions (biases and norms left out)."""
    count = shape.embed_dim * shape.z_channels + 9 * shape.z_channels * shape.ch * shape.ch_mult[-1]
    top = shape.ch * shape.ch_mult[-1]
    count += 2 * 2 * 9 * top * top + 4 * top * top
    channels = top
    for level in reversed(range(len(shape.ch_mult))):
        out = shape.ch * shape.ch_mult[level]
        resolution = shape.resolution // 2 ** level
        for _ in range(shape.num_res_blocks + 1):
            count += 9 * channels * out + 9 * out * out + (channels * out if channels != out else 0)
            if resolution in shape.attn_resolutions:
                count += 4 * out * out
            channels = out
        if level != 0:
            count += 9 * out * out
    return count + 9 * channels * shape.out_ch


def vqgan_decode_cost(shape: VQGANShape, batch: int, itemsize: int) -> Cost:
    """The VQGAN decoder from codebook vectors to pixels, per image."""
    levels = len(shape.ch_mult)
    height = shape.resolution // 2 ** (levels - 1)
    top = shape.ch * shape.ch_mult[-1]
    cost = _conv(height, shape.embed_dim, shape.z_channels, 1, itemsize)
    cost += _conv(height, shape.z_channels, top, 3, itemsize)
    cost += _resnet(height, top, top, itemsize) * 2 + _spatial_attention(height, top, itemsize)
    channels = top
    for level in reversed(range(levels)):
        out = shape.ch * shape.ch_mult[level]
        for _ in range(shape.num_res_blocks + 1):
            cost += _resnet(height, channels, out, itemsize)
            if height in shape.attn_resolutions:
                cost += _spatial_attention(height, out, itemsize)
            channels = out
        if level != 0:
            height *= 2
            cost += _conv(height, out, out, 3, itemsize)
    cost += _conv(height, channels, shape.out_ch, 3, itemsize)
    return cost + Cost(0.0, vqgan_decode_weights(shape) * itemsize / batch)


def _tower(tower: TowerShape, itemsize: int) -> Cost:
    n, w = tower.tokens, tower.width
    per_layer = (_linear(n, w, 4 * w, itemsize) + _attention(n, n, w, itemsize)
                 + _linear(n, w, tower.mlp, itemsize) + _linear(n, tower.mlp, w, itemsize))
    return per_layer * tower.layers


def _tower_weights(tower: TowerShape) -> int:
    return tower.layers * (4 * tower.width ** 2 + 2 * tower.width * tower.mlp)


def clip_cost(shape: ClipShape, batch: int, itemsize: int) -> Cost:
    """CLIP's image and text towers, per image: the resize (jax.image.resize
    applies one dense kernel matrix per axis), patch embedding, both towers."""
    src, dst = shape.source_size, shape.image_size
    resize = Cost(2.0 * 3 * dst * src * src + 2.0 * 3 * dst * dst * src, itemsize * 3 * (src * src + dst * dst))
    patches = _linear(shape.vision.tokens - 1, 3 * shape.patch_size ** 2, shape.vision.width, itemsize)
    weights = _tower_weights(shape.vision) + _tower_weights(shape.text)
    return (resize + patches + _tower(shape.vision, itemsize) + _tower(shape.text, itemsize)
            + Cost(0.0, weights * itemsize / batch))


@dataclass(frozen=True)
class PipelineCost:
    """Cost per image of each stage of the pipeline."""

    encode: Cost
    sample: Cost
    decode: Cost
    clip: Cost

    @property
    def total(self) -> Cost:
        return self.encode + self.sample + self.decode + self.clip

    def seconds(self, peak: Peak) -> float:
        """Roofline time per image: each stage bound by its own limit."""
        return sum(stage.seconds(peak) for stage in (self.encode, self.sample, self.decode, self.clip))


def pipeline_cost(dalle: DalleBartShape, vqgan: VQGANShape, clip: ClipShape | None, *, unconditioned_pass: bool,
                  batch: int, itemsize: int) -> PipelineCost:
    """With super-conditioning each image decodes two rows, but the empty
    prompt is encoded once per batch."""
    rows = 2 if unconditioned_pass else 1
    encoded_rows = 1 + (1 / batch if unconditioned_pass else 0)
    return PipelineCost(
        encode=text_encode_cost(dalle, encoded_rows, batch, itemsize),
        sample=sampling_cost(dalle, rows, batch, itemsize),
        decode=vqgan_decode_cost(vqgan, batch, itemsize),
        clip=clip_cost(clip, batch, itemsize) if clip is not None else Cost(),
    )


# Dense peak per device as JAX sees it (FLOP/s for float32 and 16-bit
# matrix products, HBM bytes/s), from the vendors' data sheets. GPU float32
# uses TF32 tensor cores (XLA's default precision); TPU float32 products run
# in bfloat16 passes at default precision.
PEAKS: dict[str, tuple[float, float, float]] = {
    "H200": (494.7e12, 989.4e12, 4.8e12),
    "H100 PCIe": (378e12, 756e12, 2.0e12),
    "H100": (494.7e12, 989.4e12, 3.35e12),
    "A100-SXM4-80GB": (156e12, 312e12, 2.039e12),
    "A100": (156e12, 312e12, 1.555e12),
    "A10G": (62.5e12, 125e12, 0.6e12),
    "L40S": (183e12, 362e12, 0.864e12),
    "L40": (90.5e12, 181e12, 0.864e12),
    "L4": (60e12, 121e12, 0.3e12),
    "V100": (15.7e12, 125e12, 0.9e12),
    "T4": (8.1e12, 65e12, 0.32e12),
    "TPU v2": (23e12, 23e12, 0.35e12),
    "TPU v3": (61.5e12, 61.5e12, 0.45e12),
    "TPU v4": (275e12, 275e12, 1.2e12),
    "TPU v5 lite": (197e12, 197e12, 0.819e12),
    "TPU v5p": (459e12, 459e12, 2.765e12),
    "TPU v5": (459e12, 459e12, 2.765e12),
    "TPU v6 lite": (918e12, 918e12, 1.64e12),
}


def table_peak(device_kind: str, dtype: str) -> Peak | None:
    """The data-sheet peak of a known accelerator (longest matching name wins), or None."""
    matches = [name for name in PEAKS if name.lower() in device_kind.lower()]
    if not matches:
        return None
    name = max(matches, key=len)
    f32, f16, bandwidth = PEAKS[name]
    return Peak(f32 if dtype == "float32" else f16, bandwidth, f"table: {name}")
