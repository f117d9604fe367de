"""Every kind of bad or unusual input gets the right picture or one clear ImageLoadError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_runtime.image_io import ImageLoadError, load_image
from tests.conftest import TEST_DATA

PHOTO = TEST_DATA / "female_image_without_mask.jpg"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return load_image(PHOTO)


def test_plain_jpeg_is_rgb_uint8(photo):
    assert photo.shape == (260, 260, 3)
    assert photo.dtype == np.uint8
    # Skin tones: red above blue on average; a BGR mix-up would flip this.
    assert photo[..., 0].mean() > photo[..., 2].mean()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("this is not a picture\n"), "not an image"),
        (lambda p: p.write_bytes(PHOTO.read_bytes()[: PHOTO.stat().st_size * 2 // 3]), "truncated"),
    ],
    ids=["missing", "zero-bytes", "text-named-jpg", "truncated-jpeg"],
)
def test_broken_files_raise_one_line(tmp_path: Path, make, reason):
    path = tmp_path / "photo.jpg"
    make(path)
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    message = str(info.value)
    assert reason in message
    assert "\n" not in message
    assert str(path) in message


def test_directory_is_not_an_image(tmp_path: Path):
    with pytest.raises(ImageLoadError, match="is a directory"):
        load_image(tmp_path)


def test_huge_image_refused_before_decoding(tmp_path: Path):
    path = tmp_path / "huge.png"
    Image.new("1", (12000, 12000)).save(path)  # 1-bit: small on disk, 144 MP when decoded
    with pytest.raises(ImageLoadError, match=r"too large \(12000x12000 = 144 MP"):
        load_image(path)


def test_one_pixel_image_loads(tmp_path: Path):
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (10, 20, 30)).save(path)
    assert load_image(path).tolist() == [[[10, 20, 30]]]


def test_grayscale_becomes_three_equal_channels(tmp_path: Path, photo):
    path = tmp_path / "gray.png"
    Image.fromarray(photo).convert("L").save(path)
    gray = load_image(path)
    assert gray.shape == photo.shape
    assert np.array_equal(gray[..., 0], gray[..., 2])


def test_rgba_drops_alpha_onto_black(tmp_path: Path, photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    loaded = load_image(path)
    assert np.array_equal(loaded[20:, 20:], photo[20:, 20:])
    assert loaded[:10, :10].max() == 0


def test_cmyk_jpeg_converts_back_to_rgb(tmp_path: Path, photo):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(photo).convert("CMYK").save(path, quality=95)
    loaded = load_image(path)
    assert loaded.shape == photo.shape
    assert np.abs(loaded.astype(int) - photo).mean() < 6


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path, photo):
    gray8 = np.asarray(Image.fromarray(photo).convert("L"))
    path = tmp_path / "gray16.png"
    Image.fromarray(gray8.astype(np.uint16) * 257).save(path)
    assert Image.open(path).mode.startswith("I")
    loaded = load_image(path)
    assert np.array_equal(loaded[..., 1], gray8)


def test_exif_rotation_is_applied(tmp_path: Path, photo):
    # Store the pixels turned on their side plus an EXIF tag saying "turn me back".
    sideways = Image.fromarray(np.ascontiguousarray(np.rot90(photo[:, :200], k=1)))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    sideways.save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.shape == (260, 200, 3)
    assert np.abs(loaded.astype(int) - photo[:, :200]).mean() < 6
