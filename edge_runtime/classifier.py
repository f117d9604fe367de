"""One binary classifier (mask, or a gender model) on ONNX Runtime, described by the manifest."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edge_runtime.manifest import verified_classifier
from edge_runtime.sessions import (
    InferenceSession,
    cpu_only,
    create_session,
    run_in_slices,
    worker_count,
)


class Classifier:
    """An EfficientNetV2S classifier exported by `python -m export model`.

    Its manifest entry gives the input size, the crop margin it was trained with, its class
    names, threshold and whether to average with the mirrored crop (`test_time_flip`, chosen
    on validation by `python -m train calibrate`). The file's sha256 is checked at
    construction; the ONNX Runtime session (about 0.5 s and 150 MB for EfficientNetV2S) is
    built on first use, so a run that sees no masked face never loads the masked-gender
    model. On the CPU, `predict` splits a batch of several crops (faces, or a face and its
    mirror image) between `threads` workers with one ONNX Runtime thread each: at 64 px
    that beats two threads on the whole batch (`benchmarks/README.md`); a GPU gets it whole.
    """

    def __init__(
        self,
        models_dir: Path,
        name: str,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
    ) -> None:
        path, entry = verified_classifier(models_dir, name)
        self.name = name
        self.input_size = entry.input_size
        self.margin = entry.crop_margin
        self.class_names = entry.class_names
        self.threshold = entry.threshold
        self.flip = entry.test_time_flip
        self.version = entry.model.sha256[:12]  # as the service's /v1/models gives it
        self._sha256 = entry.model.sha256
        self._path, self._providers = path, providers
        on_cpu = cpu_only(providers)
        self.workers = worker_count(threads) if on_cpu else 1
        self._threads = 1 if on_cpu else threads
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=name)
        self._session: InferenceSession | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> InferenceSession:
        """The ONNX Runtime session, built the first time it is needed."""
        with self._lock:
            if self._session is None:
                self._session = create_session(
                    self._path, self._providers, self._threads, self._sha256
                )
            return self._session

    def close(self) -> None:
        """Stop the worker threads (the session goes with the object)."""
        self._pool.shutdown()

    def predict(self, crops: np.ndarray, no_flip: bool = False) -> np.ndarray:
        """P(class_names[1]) for each crop (N, S, S, 3) uint8 RGB; (0,) for no crops.
        Averaged with the mirrored crop where the manifest says so, unless `no_flip`."""
        if len(crops) == 0:
            return np.zeros(0, np.float32)
        batch = crops.astype(np.float32)
        return flip_mean(self._run, batch) if self.flip and not no_flip else self._run(batch)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        session = self.session
        (probability,) = run_in_slices(
            self._pool,
            lambda part: session.run(["probability"], {"image": part}),
            batch,
            self.workers,
        )
        return probability.reshape(-1)


def plain_and_flip_mean(
    predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`predict` on NHWC images, and its mean over the images and their mirror images,
    from one batch (calibration needs both; it compares them)."""
    both = predict(np.concatenate([images, images[:, :, ::-1]]))
    plain = both[: len(images)]
    return plain, (plain + both[len(images) :]) / 2


def flip_mean(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray) -> np.ndarray:
    """Mean of `predict` on NHWC images and on their mirror images, in one batch.

    Test-time flip averaging, shared by the runtime, calibration, export and benchmarks.
    """
    return plain_and_flip_mean(predict, images)[1]
