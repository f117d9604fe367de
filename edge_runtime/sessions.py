"""The one place that builds ONNX Runtime sessions, so options and providers stay uniform."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import operator
import os
import platform
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime import InferenceSession

from edge_runtime.cache import cache_dir, private_folder, remembered_sha256, sha256_of

log = logging.getLogger(__name__)

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


KNOWN_PROVIDERS = frozenset(ort.get_all_providers())


class ProviderUnavailableError(RuntimeError):
    """An execution provider was asked for but this onnxruntime build lacks it."""


def resolve_providers(names: Sequence[str] | None, fallback: bool = False) -> list[str]:
    """Map short names (cpu, cuda, tensorrt) to ONNX Runtime providers, checking availability.

    Without `fallback`, a missing provider is an error; with it, missing ones are
    dropped (CPU always remains last).
    """
    if not names:
        return ["CPUExecutionProvider"]
    unknown = [n for n in names if n.lower() not in PROVIDER_ALIASES and n not in KNOWN_PROVIDERS]
    if unknown:
        raise ProviderUnavailableError(
            f"unknown provider(s) {', '.join(unknown)}: choose from cpu, cuda, tensorrt "
            "(or an ONNX Runtime provider's full name)"
        )
    available = set(ort.get_available_providers())
    wanted = [PROVIDER_ALIASES.get(n.lower(), n) for n in names]
    missing = [p for p in wanted if p not in available]
    if missing and not fallback:
        gpu = {PROVIDER_ALIASES["cuda"], PROVIDER_ALIASES["tensorrt"]} & set(missing)
        hint = "install onnxruntime-gpu for cuda and tensorrt, or " if gpu else ""
        raise ProviderUnavailableError(
            f"provider(s) {', '.join(missing)} not available in this onnxruntime build "
            f"(available: {', '.join(sorted(available))}); {hint}use the fallback "
            "(--fallback) to run on what is available"
        )
    chosen = [p for p in wanted if p in available]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    if missing:
        log.warning("%s not available: running on %s", ", ".join(missing), ", ".join(chosen))
    return chosen


def worker_count(threads: int | None) -> int:
    """Worker threads for `threads` (None: one per core); ValueError for fewer than one."""
    if threads is None:
        return os.cpu_count() or 1
    try:
        count = operator.index(threads)  # ints and numpy integers, not floats or bools
    except TypeError:
        count = 0
    if isinstance(threads, bool) or count < 1:
        raise ValueError(
            f"threads must be a whole number at least 1 (None: all cores), not {threads!r}"
        )
    return count


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


def cpu_signature() -> str:
    """What a saved graph is kept apart by: ONNX Runtime's version and this CPU's
    instruction sets."""
    flags = platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            flags += next((line for line in info if line.startswith(("flags", "Features"))), "")
    except OSError:
        flags += platform.processor()
    return f"{ort.__version__}-{hashlib.sha256(flags.encode()).hexdigest()[:12]}"


def _options(threads: int | None) -> ort.SessionOptions:
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
    return options


def _cached_cpu_session(path: Path, sha256: str, threads: int | None) -> InferenceSession | None:
    """A CPU session from the graph an earlier run optimised and saved (its sha256
    checked), or saved now; None where no cache can be kept (the caller builds the
    session as usual). The graph is saved fully optimised, layouts for this CPU included
    (the cache is kept per CPU, `cpu_signature`), in ONNX Runtime's own format, and loaded
    with no optimisation left to do: that format skips protobuf parsing as well."""
    folder = cache_dir()
    if folder is None or not private_folder(folder):
        return None
    stem = f"{Path(path).stem}-{sha256[:16]}-{cpu_signature()}"
    cached, stamp = folder / f"{stem}.ort", folder / f"{stem}.ort.sha256"
    writer = f"{os.getpid()}-{threading.get_ident()}"
    partial = folder / f"{stem}.{writer}.partial.ort"
    stamp_partial = folder / f"{stem}.{writer}.partial.ort.sha256"
    fresh = True
    cpu = ["CPUExecutionProvider"]
    try:
        fresh = not (cached.is_file() and stamp.is_file())
        if not fresh and stamp.read_text().strip() != remembered_sha256(cached):
            fresh = True  # damaged or swapped: saved anew
        if fresh:
            options = _options(threads)
            options.optimized_model_filepath = str(partial)
            options.add_session_config_entry("session.save_model_format", "ORT")
            InferenceSession(str(path), sess_options=options, providers=cpu)
            stamp_partial.write_text(sha256_of(partial) + "\n")
            os.replace(partial, cached)  # the graph first, then the stamp that vouches for it
            os.replace(stamp_partial, stamp)
            for legacy in (folder / f"{stem}.onnx", folder / f"{stem}.sha256"):  # 0.2.0's
                legacy.unlink(missing_ok=True)
        options = _options(threads)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.add_session_config_entry("session.load_model_format", "ORT")
        # Map the file instead of reading it, and let the weights point into the mapping
        # rather than be copied out: the cache is only ever replaced, never written in place.
        options.add_session_config_entry("session.use_memory_mapped_ort_model", "1")
        options.add_session_config_entry("session.use_ort_model_bytes_for_initializers", "1")
        return InferenceSession(str(cached), sess_options=options, providers=cpu)
    except Exception as exc:  # ONNX Runtime's own errors too: no cache, build as usual
        log.debug("no optimised-graph cache in %s: %s", folder, exc)
        if not fresh:  # a saved entry that does not load: drop it, the next run saves anew
            with contextlib.suppress(OSError):  # Windows keeps a mapped file
                cached.unlink(missing_ok=True)
                stamp.unlink(missing_ok=True)
        return None
    finally:
        partial.unlink(missing_ok=True)
        stamp_partial.unlink(missing_ok=True)


def create_session(
    path: str | Path | bytes,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    sha256: str | None = None,
) -> InferenceSession:
    """An InferenceSession with full graph optimisation and the given intra-op thread count,
    from a file or a serialized model. On the CPU, a file given with its (verified) `sha256`
    keeps its optimised graph in a cache (`cache.cache_dir`), so later processes start
    without optimising again."""
    names = list(providers or ["CPUExecutionProvider"])
    if sha256 and cpu_only(names) and not isinstance(path, bytes):
        session = _cached_cpu_session(Path(path), sha256, threads)
        if session is not None:
            return session
    session = InferenceSession(
        path if isinstance(path, bytes) else str(path),
        sess_options=_options(threads),
        providers=[(p, provider_options(p)) for p in names],
    )
    log.debug(
        "%s on %s", "model" if isinstance(path, bytes) else Path(path).name, session.get_providers()
    )
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
