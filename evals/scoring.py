"""Computing registered metrics on one set of images: each feature network is
loaded once (kept for later sets) and run once per image, whatever number of
metrics share it; each reference is reduced to features once and cached on
disk, keyed by its content, the network, its weights and the resizing.

A metric that cannot mean anything at the sample size given (its
small-sample rule), or whose reference lacks what it needs, gets null
columns and a reason, never an exception."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.base.atomic import replacing
from bench.base.errors import BenchError
from evals import fidelity, inception
from evals.features import FEATURES
from evals.fidelity import _content_key, reference_folder
from evals.images import image_files, load_images
from evals.metric import Metric, MetricInputs, Networks


class FeatureBank:
    """Loaded feature networks and resolved references, shared by every image set scored."""

    def __init__(self, networks: Networks, reference: str | None, cache_dir: Path, run_dir: Path | None = None):
        self.networks, self.reference_spec, self.cache_dir, self.run_dir = networks, reference, cache_dir, run_dir
        self._loaded: dict[str, object] = {}
        self._references: dict[str, object] = {}

    def network(self, feature: str):
        if feature not in self._loaded:
            self._loaded[feature] = FEATURES[feature].load(self.networks)
        return self._loaded[feature]

    def describe(self, feature: str) -> str:
        return FEATURES[feature].describe(self.networks)

    def extract(self, feature: str, images: np.ndarray, prompts: list[str] | None):
        return FEATURES[feature].extract(self.network(feature), images, prompts)

    def reference(self, feature: str):
        """The reference's features (inception: fidelity's Reference); None when it has none for this network."""
        if not self.reference_spec:
            raise BenchError("a reference is needed: --fid-ref (folder of images, .npz or point:<id>)")
        if feature not in self._references:
            self._references[feature] = self._resolve(feature)
        return self._references[feature]

    def _resolve(self, feature: str):
        spec = self.reference_spec
        if feature == "inception":
            weights = self.networks.inception_weights
            return fidelity.resolve_reference(spec, self.network(feature), inception.weights_id(weights),
                                              self.cache_dir, self.run_dir)
        folder = reference_folder(spec, self.run_dir)
        if folder is None:
            return None
        files = image_files(folder)
        cache = self.cache_dir / f"ref-{_content_key(files)}-{FEATURES[feature].cache_tag(self.networks)}.npz"
        if cache.is_file():
            return np.load(cache)["features"]
        features = self.extract(feature, load_images(files), None)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with replacing(cache) as tmp:
            np.savez(tmp, features=features)
        return features


def _reference_count(reference) -> int | None:
    if reference is None:
        return None
    if isinstance(reference, fidelity.Reference):
        return reference.count
    return len(reference)


def compute(metrics: list[Metric], bank: FeatureBank, images: np.ndarray, prompts: list[str] | None = None,
            images_per_prompt: int | None = None, features: dict | None = None) -> tuple[dict, dict[str, str]]:
    """(columns, {metric: reason it is null}) of `metrics` on uint8 (N, H, W, 3) images. The features
    computed are left in `features` (by feature name) when the caller passes a dict."""
    features = {} if features is None else features
    columns: dict = {}
    reasons: dict[str, str] = {}
    for metric in metrics:
        references = {f: bank.reference(f) for f in metric.features} if metric.needs_reference else {}
        reference_count = min((c for c in map(_reference_count, references.values()) if c is not None),
                              default=None)
        out: dict = {c: None for c in metric.columns}
        out[metric.network_column] = bank.describe(metric.features[0])
        if metric.needs_reference:
            out["fid_reference"] = bank.reference_spec
        if metric.count_column:
            out[metric.count_column] = len(images)
        if metric.reference_count_column:
            out[metric.reference_count_column] = reference_count
        reason = metric.too_few(len(images), reference_count)
        if reason is None:
            for name in metric.features:
                if name not in features:
                    features[name] = bank.extract(name, images, prompts)
            computed = metric.compute(MetricInputs(features, references, bank.networks, images_per_prompt))
            reason = computed.pop("null_reason", None)
            out.update(computed)
        if reason:
            reasons[metric.name] = reason
        # Metrics share columns (fid and kid: the extractor, the counts): a null never hides another's value.
        columns.update({k: v for k, v in out.items() if v is not None or k not in columns})
    return columns, reasons
