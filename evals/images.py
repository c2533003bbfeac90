"""Reading a folder of generated images for scoring: PNG/JPEG files sorted
by name, all one size, as a uint8 (N, H, W, 3) array."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.errors import BenchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise BenchError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("grid_"))
    if not files:
        raise BenchError(f"{folder}: no images (.png, .jpg, .webp)")
    return files


def load_images(files: list[Path]) -> np.ndarray:
    arrays = []
    for path in files:
        try:
            with Image.open(path) as image:
                arrays.append(np.asarray(image.convert("RGB")))
        except (OSError, UnidentifiedImageError):
            raise BenchError(f"{path}: unreadable image") from None
        if arrays[-1].shape != arrays[0].shape:
            raise BenchError(f"{path}: size {arrays[-1].shape[1]}x{arrays[-1].shape[0]} differs from "
                             f"{files[0].name}'s {arrays[0].shape[1]}x{arrays[0].shape[0]}; images must share one size")
    return np.stack(arrays)


def load_folder(folder: Path) -> tuple[list[Path], np.ndarray]:
    files = image_files(folder)
    return files, load_images(files)
