"""Figures and images as `data:` URIs, so the page needs no other file and no network."""

from __future__ import annotations

import base64
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

DPI = 100


def figure_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)  # Agg explicitly: no display, whatever the user's default backend
    figure.savefig(buffer, format="png", dpi=DPI)
    return _uri("image/png", buffer.getvalue())


def image_uri(image: Image.Image, jpeg_quality: int = 85) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=jpeg_quality)
    return _uri("image/jpeg", buffer.getvalue())


def _uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
