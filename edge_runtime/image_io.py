"""Decode any photo a user may hand us into one RGB uint8 array, or fail with one clear line.

Pillow reads the header before the pixels, so an oversized image is refused before it
is decoded; it reports truncated files instead of returning grey rows; and it knows
EXIF orientation, CMYK, palette, alpha and 16-bit modes.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# 50 megapixels: above any phone camera's default, below what MTCNN's pyramid can
# process on a 4 GB Raspberry Pi. Larger images are refused, not silently shrunk.
DEFAULT_MAX_PIXELS = 50_000_000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

Image.MAX_IMAGE_PIXELS = None  # our own limit below replaces Pillow's bomb warning


class ImageLoadError(ValueError):
    """A file that cannot be turned into a photo; the message is one line for the user."""


class ImageTooLargeError(ImageLoadError):
    """An image with more pixels than allowed (refused before its pixels are decoded)."""


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a photo as RGB uint8 (H, W, 3), upright as its EXIF orientation says.

    Grayscale, palette, RGBA (alpha dropped onto black), CMYK and 16-bit images are
    converted. Raises ImageLoadError for missing, empty, non-image, truncated or
    oversized files.
    """
    path = Path(path)
    if not path.exists():
        raise ImageLoadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageLoadError(f"{path}: is a directory, not an image")
    if path.stat().st_size == 0:
        raise ImageLoadError(f"{path}: empty file (0 bytes)")
    return _decode(path, str(path), max_pixels)


def load_image_bytes(
    data: bytes, name: str = "upload", max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """`load_image` for an encoded image in memory (an HTTP upload); `name` is for errors."""
    if not data:
        raise ImageLoadError(f"{name}: empty (0 bytes)")
    return _decode(io.BytesIO(data), name, max_pixels)


def _decode(source: Path | io.BytesIO, name: str, max_pixels: int) -> np.ndarray:
    try:
        with Image.open(source) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"{name}: image too large ({width}x{height} = {width * height / 1e6:.0f} MP; "
                    f"the limit, --max-pixels, is {max_pixels / 1e6:.0f} MP)"
                )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img.load()
                upright = ImageOps.exif_transpose(img)
            return to_rgb(upright)
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: not an image (unrecognised format)") from None
    except OSError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageLoadError(f"{name}: cannot decode ({reason})") from None


def to_rgb(img: Image.Image) -> np.ndarray:
    """Pillow image in any mode -> RGB uint8 array; 16-bit values are scaled, not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(img, dtype=np.float64)
        scale = 257.0 if wide.max(initial=0) > 255 else 1.0
        gray = np.clip(np.rint(wide / scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode == "F":
        gray = np.clip(np.rint(np.asarray(img)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
