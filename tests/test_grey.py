"""`benchmarks.grey`: the grey crops are the ones PIL's "L" mode gives, in three channels."""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchmarks.grey import to_grey
from edge_runtime.image_io import load_image
from tests.conftest import TEST_DATA


def test_grey_crops_match_pil_and_keep_three_equal_channels():
    photo = load_image(TEST_DATA / "female_image_with_mask.jpg")[:64, :64]
    grey = to_grey(photo[None])[0]
    expected = np.asarray(Image.fromarray(photo).convert("L"))
    assert grey.shape == photo.shape and grey.dtype == np.uint8
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert np.abs(grey[..., 0].astype(int) - expected).max() <= 1
