"""`benchmarks.robustness`: grey crops as PIL's "L" mode gives them; pasted ones with flat edges."""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchmarks.robustness import PAGE_LEVELS, pasted, to_grey
from edge_runtime.image_io import load_image
from tests.conftest import TEST_DATA


def test_grey_crops_match_pil_and_keep_three_equal_channels():
    photo = load_image(TEST_DATA / "female_image_with_mask.jpg")[:64, :64]
    grey = to_grey(photo[None])[0]
    expected = np.asarray(Image.fromarray(photo).convert("L"))
    assert grey.shape == photo.shape and grey.dtype == np.uint8
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert np.abs(grey[..., 0].astype(int) - expected).max() <= 1


def test_pasted_crops_have_flat_page_bands_the_same_each_call_and_the_face_untouched():
    photo = load_image(TEST_DATA / "female_image_with_mask.jpg")
    crops = np.stack([photo[k : k + 64, k : k + 64] for k in range(0, 100, 5)])
    out = pasted(crops)
    assert np.array_equal(out, pasted(crops)) and out.dtype == np.uint8
    changed = np.any(out != crops, axis=-1)
    assert changed.any(axis=(1, 2)).all()  # every crop gets at least one band
    assert not changed[:, 13:51, 13:51].any()  # a band is at most a fifth of the side
    for image, where in zip(out, changed, strict=True):
        assert {int(v) for v in np.unique(image[where])} <= set(PAGE_LEVELS)
