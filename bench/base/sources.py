"""Telling a checkpoint on disk from one named on a hub, and naming its
weights, in one place for every model option (`--model`, `--vqgan`,
`--clip`, the evaluation networks)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


def looks_local(source: str) -> bool:
    """Whether `source` names a local path rather than a Hub id (`owner/name`)
    or a wandb artifact (`entity/project/name:version`): it is written as a
    path, exists on disk, or has more parts than a Hub id and no artifact
    version. Used to refuse a missing local checkpoint before any loading."""
    return (source.startswith((".", "/", "~")) or Path(source).expanduser().exists()
            or (source.count("/") > 1 and ":" not in source))


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "flax_model.msgpack")


def weights_id(source: str) -> str:
    """What names a checkpoint's weights in records and cache keys: a Hub id
    stands for itself, a local folder for a hash of its weight files (so two
    copies of one checkpoint agree, and a retrained one does not)."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return source
    files = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not files:
        return str(folder.resolve())
    stats = tuple((str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _digest(stats)


@functools.lru_cache(maxsize=16)
def _digest(stats: tuple) -> str:
    digest = hashlib.sha1()
    for path, _, _ in stats:
        digest.update(Path(path).read_bytes())
    return "sha1-" + digest.hexdigest()[:16]


# --- Hub ids on a machine that may be offline -------------------------------------------------------
# transformers retries an unreachable Hub for about a minute (five retries, warnings on stderr) before
# it fails. A Hub id is checked first, in seconds: in the local Hugging Face cache, it loads from there
# (without asking the Hub when the Hub cannot be reached); otherwise the Hub must answer a connection
# within HUB_CONNECT_TIMEOUT_S, or the id is refused in one line.

HUB_CONNECT_TIMEOUT_S = 3.0


def is_hub_id(source: str) -> bool:
    """`owner/name` (or a bare `name`): not a local path, not a wandb artifact (`entity/project/name:v0`)."""
    return bool(source) and ":" not in source and not looks_local(source)


def hub_options(source: str, option: str) -> dict:
    """Keyword arguments for `from_pretrained(source, ...)`: {} for a local folder or a reachable Hub,
    {"local_files_only": True} for a cached Hub id while the Hub is unreachable; a one-line BenchError
    for a Hub id that is neither cached nor reachable (or HF_HUB_OFFLINE is set)."""
    if not is_hub_id(source):
        return {}
    cached = _in_local_cache(source)
    if _offline_by_setting():
        if cached:
            return {"local_files_only": True}
        reason = "HF_HUB_OFFLINE is set"
    else:
        unreachable = _hub_unreachable()
        if unreachable is None:
            return {}
        if cached:
            return {"local_files_only": True}
        reason = f"the Hub is unreachable ({unreachable})"
    from .errors import BenchError

    raise BenchError(f"{option}: cannot load '{source}': not in the local Hugging Face cache and {reason}; "
                     "give a local folder (a checkpoint saved with save_pretrained) or download it first")


def check_hub_source(source: str, option: str) -> None:
    """hub_options' refusal alone, for checks before anything loads."""
    hub_options(source, option)


def _offline_by_setting() -> bool:
    import os

    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _in_local_cache(source: str) -> bool:
    """Whether the id's config.json is in the Hugging Face cache (huggingface_hub's own lookup: $HF_HOME,
    $HF_HUB_CACHE)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        return isinstance(try_to_load_from_cache(source, "config.json"), str)
    except Exception:  # an id huggingface_hub finds malformed: transformers will say what is wrong with it
        return False


@functools.lru_cache(maxsize=1)
def _hub_unreachable() -> str | None:
    """None when a TCP connection to the Hub (or to the HTTPS proxy, when one is set) opens within
    HUB_CONNECT_TIMEOUT_S; otherwise the reason, one short phrase."""
    import os
    import socket
    from urllib.parse import urlsplit

    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    proxy = next((os.environ[n] for n in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy") if os.environ.get(n)),
                 None)
    target = urlsplit(proxy if "://" in (proxy or "") else f"http://{proxy}") if proxy else urlsplit(endpoint)
    host, port = target.hostname, target.port or (443 if target.scheme == "https" else 80)
    if not host:
        return f"no host in {proxy or endpoint}"
    try:
        with socket.create_connection((host, port), timeout=HUB_CONNECT_TIMEOUT_S):
            return None
    except TimeoutError:
        return f"{host}:{port}: no answer in {HUB_CONNECT_TIMEOUT_S:g} s"
    except OSError as e:
        return f"{host}:{port}: {e.strerror or type(e).__name__}"
