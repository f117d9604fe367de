"""The one place that builds ONNX Runtime sessions, so options and providers stay uniform."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime import InferenceSession

log = logging.getLogger(__name__)

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


class ProviderUnavailableError(RuntimeError):
    """An execution provider was asked for but this onnxruntime build lacks it."""


def resolve_providers(names: Sequence[str] | None, fallback: bool = False) -> list[str]:
    """Map short names (cpu, cuda, tensorrt) to ONNX Runtime providers, checking availability.

    Without `fallback`, a missing provider is an error; with it, missing ones are
    dropped (CPU always remains last).
    """
    if not names:
        return ["CPUExecutionProvider"]
    available = set(ort.get_available_providers())
    wanted = [PROVIDER_ALIASES.get(n.lower(), n) for n in names]
    missing = [p for p in wanted if p not in available]
    if missing and not fallback:
        raise ProviderUnavailableError(
            f"provider(s) {', '.join(missing)} not available in this onnxruntime build "
            f"(available: {', '.join(sorted(available))})"
        )
    chosen = [p for p in wanted if p in available]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def cpu_only(providers: Sequence[str] | None) -> bool:
    """True when every provider asked for is ONNX Runtime's CPU one (None means the CPU)."""
    return all(p == "CPUExecutionProvider" for p in providers or ["CPUExecutionProvider"])


def trt_cache_dir() -> Path:
    """Where TensorRT keeps built engines (EDGE_TRT_CACHE, else ~/.cache/edge_runtime/trt)."""
    default = Path.home() / ".cache" / "edge_runtime" / "trt"
    return Path(os.environ.get("EDGE_TRT_CACHE", default))


def provider_options(provider: str) -> dict:
    """Options per provider: TensorRT caches its engines (minutes to build) and may use FP16."""
    if provider == "TensorrtExecutionProvider":
        cache = trt_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        return {
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": True,
            "trt_fp16_enable": os.environ.get("EDGE_TRT_FP16", "1") == "1",
        }
    return {}


def create_session(
    path: Path, providers: Sequence[str] | None = None, threads: int | None = None
) -> InferenceSession:
    """An InferenceSession with full graph optimisation and the given intra-op thread count."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Spinning worker threads would fight OpenCV's resize threads for the same cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # On x86-64 CPUs with AVX2 but no VNNI, ONNX Runtime's u8s8 int8 kernels (VPMADDUBSW)
    # saturate 16-bit sums: our int8 classifiers then gave probabilities up to 0.6 away
    # from those of VNNI and Arm CPUs (3-4 labels of 300 flipped). This option makes ONNX
    # Runtime use u8u8 kernels there; it changes nothing on VNNI or Arm CPUs.
    options.add_session_config_entry("session.x64quantprecision", "1")
    if threads:
        options.intra_op_num_threads = threads
    names = list(providers or ["CPUExecutionProvider"])
    session = InferenceSession(
        str(path), sess_options=options, providers=[(p, provider_options(p)) for p in names]
    )
    log.debug("%s on %s", Path(path).name, session.get_providers())
    return session


def run_in_slices(
    pool: ThreadPoolExecutor,
    run: Callable[[np.ndarray], Sequence[np.ndarray]],
    batch: np.ndarray,
    workers: int,
) -> list[np.ndarray]:
    """`run` on up to `workers` slices of `batch` side by side, each output joined again.

    For small networks (MTCNN's, or a 64 px classifier on a few faces) one ONNX Runtime
    thread per slice keeps the cores busier than splitting every small convolution.
    """
    parts = [part for part in np.array_split(batch, workers) if len(part)]
    if len(parts) == 1:
        return list(run(parts[0]))
    results = list(pool.map(run, parts))
    return [np.concatenate([result[i] for result in results]) for i in range(len(results[0]))]
