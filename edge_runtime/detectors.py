"""The face detectors on offer (each one manifest entry: its three networks and settings).

"mtcnn" is the reference `mtcnn` package's P-Net, R-Net and O-Net; "finetuned" uses a
smaller P-Net taught by the reference one on a cheaper pyramid (`python -m train pnet`,
`python -m export pnet`; the detector in less than half the time) and R-Net and O-Net
fine-tuned on masked and unmasked faces
(`python -m train detector`, `python -m export detector`). Kept apart from the detector
code so the command line can list them without loading ONNX Runtime.
"""

from __future__ import annotations

DETECTORS: tuple[str, ...] = ("mtcnn", "finetuned")
DEFAULT_DETECTOR = "finetuned"
# The reference detector's thresholds (P-Net, R-Net, O-Net), written into its manifest entry.
REFERENCE_THRESHOLDS = (0.6, 0.7, 0.8)
# Photos whose longer side is above this are detected on a copy shrunk to it: a 12 MP
# photo's pyramid costs about 30x a VGA photo's, and its faces are rarely 20 px.
DEFAULT_MAX_SIDE = 1920
# When nothing is found: detect again on a copy framed by a grey border of this share of the
# longer side, at this O-Net threshold (None: the detector's own), until a face is found.
# Close-ups whose face runs past the frame are found so (`benchmarks/closeups.py`).
BORDER_RETRIES: tuple[tuple[float, float | None], ...] = ((0.25, None), (0.5, 0.6))
