"""Reading images for scoring (and the HTML report's thumbnails): PNG/JPEG/WebP
files sorted by name, all one size, as a uint8 (N, H, W, 3) array.

Every file's header is read before any is decoded, so that a file that is
not an image, one too large to decode (over MAX_PIXELS) or one of another
size is refused in one line naming it before memory is spent on the others.
16-bit images (PNG's 16-bit greyscale, which PIL opens as mode I;16 or I)
are scaled to 8 bits, round(v / 257); PIL's own conversion would clip them
at 255, so that nearly all of them read as white."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.base.errors import BenchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

# The largest image read: 4096x4096 pixels (48 MiB as 8-bit RGB, 256 times a generated 256x256 image).
# A reference folder of photographs fits; a decompression bomb (a few kB of PNG that decode to gigabytes)
# does not. PIL's own guard warns from 89 M pixels and refuses only from 179 M, after the header.
MAX_SIDE = 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise BenchError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("grid_"))
    if not files:
        raise BenchError(f"{folder}: no images (.png, .jpg, .webp)")
    return files


def open_image(path: Path) -> Image.Image:
    """The image with only its header read (to be closed by the caller); a one-line BenchError naming the
    file when it is not an image or is larger than MAX_PIXELS. PIL's own limit (Image.MAX_IMAGE_PIXELS,
    global to every thread) is left as it is: its warning is silenced here, its refusal reported as ours."""
    try:
        with warnings.catch_warnings():
            # PIL warns from 89 M pixels (a second line on stderr): the size is compared to ours below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError:  # from 179 M pixels: PIL's message has the count, not the size
        raise _too_large(path, _declared_size(path)) from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        raise BenchError(f"{path}: unreadable image") from None
    if image.width * image.height > MAX_PIXELS:
        image.close()
        raise _too_large(path, image.size)
    return image


def _too_large(path: Path, size: tuple[int, int] | None) -> BenchError:
    declared = f"{size[0]}x{size[1]} pixels" if size else f"over {2 * Image.MAX_IMAGE_PIXELS:,} pixels"
    return BenchError(f"{path}: {declared}, larger than the {MAX_SIDE}x{MAX_SIDE} ({MAX_PIXELS:,} pixels) an "
                      "image may have here")


def _declared_size(path: Path) -> tuple[int, int] | None:
    """The size an image's header declares, read as Image.open reads it (by the first format plugin that
    accepts the file's first bytes) but without the decompression-bomb check that follows; None when no
    plugin reads it."""
    with open(path, "rb") as fp:
        prefix = fp.read(16)
        for factory, accept in list(Image.OPEN.values()):
            try:
                accepted = accept(prefix) if accept else True
                if not accepted or isinstance(accepted, str):  # a string: a warning, not a match
                    continue
                fp.seek(0)
                with factory(fp, str(path)) as image:
                    return image.size
            except Exception:  # this plugin cannot read it: as Image.open, try the next
                continue
    return None


def rgb8(image: Image.Image) -> np.ndarray:
    """uint8 (H, W, 3) pixels of an open image; 16-bit greyscale scaled to 8 bits, not clipped."""
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.clip(np.asarray(image).astype(np.float64), 0, 65535)
        grey = np.rint(values / 257.0).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    return np.asarray(image.convert("RGB"))


def read_rgb(path: Path) -> np.ndarray:
    """One image file as uint8 (H, W, 3); a one-line BenchError naming it when it cannot be."""
    with open_image(path) as image:
        try:
            return rgb8(image)
        except (OSError, ValueError, SyntaxError):  # the header was fine, the data is not
            raise BenchError(f"{path}: unreadable image") from None


def load_images(files: list[Path]) -> np.ndarray:
    sizes = []
    for path in files:  # every header first: nothing is decoded before each file is known to fit
        with open_image(path) as image:
            sizes.append(image.size)
        if sizes[-1] != sizes[0]:
            raise BenchError(f"{path}: size {sizes[-1][0]}x{sizes[-1][1]} differs from "
                             f"{files[0].name}'s {sizes[0][0]}x{sizes[0][1]}; images must share one size")
    return np.stack([read_rgb(path) for path in files])


def load_folder(folder: Path) -> tuple[list[Path], np.ndarray]:
    files = image_files(folder)
    return files, load_images(files)
