"""`python -m edge_runtime batch`: photos and videos by the million, to Parquet, in one
process or on a Ray cluster.

Without `--ray` the job runs here, in one process, and needs no Ray. With `--ray [ADDRESS]`
it runs on Ray Data: inputs are read and decoded in tasks, and `map_batches` hands the
images to a pool of `PipelineActor`s, each holding one `Pipeline` (models loaded once per
actor). Both write the same tables (`edge_runtime.batch_output`), and a rerun with the same
`--out` skips what is already written. Video frames are classified one by one, as
`python -m edge_runtime --json --no-smooth` does (no tracking across frames).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_runtime.batch_inputs import decode, list_inputs
from edge_runtime.batch_output import PartWriter, flatten, summarize, summary_lines
from edge_runtime.image_io import DEFAULT_MAX_PIXELS
from edge_runtime.options import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    add_pipeline_arguments,
    parse_checked,
    pipeline_kwargs,
    positive_int,
    program_name,
)
from edge_runtime.types import Result

if TYPE_CHECKING:
    from edge_runtime.pipeline import Pipeline

PART_INPUTS = 500  # images (or frames) per committed part: what a stop can lose and redo
# Ray CPUs a read-and-decode task reserves: none, so that the actors can have every CPU;
# decoding (a few ms a photo) runs beside them, as many tasks at once as there are actors.
DECODE_CPUS = 0
INPUTS_PER_BLOCK = 16  # inputs one read-and-decode task takes
NO_IMAGE = np.zeros((0, 0, 3), np.uint8)  # what a failed input carries through Ray


def record_of(
    result: Result | None,
    source: str,
    frame: int | None,
    versions: dict[str, str],
    error: str | None = None,
) -> dict[str, Any]:
    """One input's row, with its faces' rows under "detections" (`batch_output.flatten`)."""
    if result is None:
        return {
            "source": source,
            "frame": frame,
            "width": None,
            "height": None,
            "faces": None,
            "error": error,
            "detections": [],
        }
    height, width = result.orig_shape
    faces = []
    for number, face in enumerate(result.faces, 1):
        x1, y1, x2, y2 = (float(v) for v in face.box)
        gender_model = None
        if face.mask is not None:
            gender_model = versions["gender_masked" if face.mask else "gender_unmasked"]
        faces.append(
            {
                "source": source,
                "frame": frame,
                "face": number,
                "x1": x1,
                "y1": y1,
                "x2": x2,
                "y2": y2,
                "confidence": float(face.confidence),
                "landmarks": [float(v) for v in np.asarray(face.landmarks).reshape(-1)],
                "mask": face.mask,
                "p_mask": face.p_mask,
                "gender": face.gender,
                "p_gender": face.p_gender,
                "mask_model": versions.get("mask") if face.mask is not None else None,
                "gender_model": gender_model,
            }
        )
    return {
        "source": source,
        "frame": frame,
        "width": width,
        "height": height,
        "faces": len(faces),
        "error": None,
        "detections": faces,
    }


def model_versions(pipeline: Pipeline) -> dict[str, str]:
    """Classifier name -> version (first 12 hex digits of its sha256); empty without them."""
    cascade = pipeline.cascade
    if cascade is None:
        return {}
    models = [cascade.mask, *cascade.gender.values()]
    return {model.name: model.version for model in models}


class PipelineActor:
    """A Ray Data `map_batches` callable: one `Pipeline` per actor, a batch of decoded
    images in ("source", "frame", "image", "error" columns, as `decoded_rows` makes them),
    one JSON record per image out (`record_of`).

    `options` are `Pipeline` keyword arguments; "providers" may be names as the CLI takes
    them ("cuda"), resolved here on the actor's own machine, with "fallback" to drop the
    unavailable ones.
    """

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        from edge_runtime.pipeline import Pipeline
        from edge_runtime.sessions import resolve_providers

        options = dict(options or {})
        fallback = options.pop("fallback", False)
        if options.get("providers"):
            options["providers"] = resolve_providers(options["providers"], fallback=fallback)
        self.pipeline = Pipeline(**options)
        self.versions = model_versions(self.pipeline)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        records = [
            self.record(str(source), _frame(frame), image, str(error) or None)
            for source, frame, image, error in zip(
                batch["source"], batch["frame"], batch["image"], batch["error"], strict=True
            )
        ]
        return {"record": [json.dumps(r) for r in records]}

    def record(
        self, source: str, frame: int | None, image: np.ndarray | None, error: str | None
    ) -> dict[str, Any]:
        """One image's record; a failure becomes its error, never an exception."""
        if error:
            return record_of(None, source, frame, self.versions, error)
        try:
            result = self.pipeline.run(np.asarray(image, dtype=np.uint8), path=source)
        except Exception as exc:  # one bad input never stops the job
            return record_of(None, source, frame, self.versions, f"{source}: {exc}")
        return record_of(result, source, frame, self.versions)


def _frame(value: Any) -> int | None:
    """A frame index as Ray carries it (-1 for a photo) -> int or None."""
    return None if value is None or int(value) < 0 else int(value)


def run_batch(
    sources: list[str],
    out: str | Path,
    *,
    options: dict[str, Any] | None = None,
    use_ray: bool = False,
    address: str | None = None,
    actors: int | None = None,
    cpus_per_actor: float = 1,
    gpus_per_actor: float = 0,
    vid_stride: int = 1,
    max_frames: int | None = None,
    part_inputs: int = PART_INPUTS,
    progress: bool = True,
    on_error: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the pipeline over every input the sources name and write Parquet under `out`;
    returns the summary. `options`: `Pipeline` keyword arguments (`PipelineActor`). Inputs
    already in `out` are skipped. On Ray, `actors` pipelines (default: as many as the
    cluster's CPUs allow) each take `cpus_per_actor` CPUs (their ONNX Runtime threads) and
    `gpus_per_actor` GPUs. `on_error` is called with each failed input's one-line error."""
    options = dict(options or {})
    writer = PartWriter(Path(out))
    done = writer.done()
    todo = [s for s in list_inputs(sources) if None not in done.get(s, ())]
    decoding = (int(options.get("max_pixels", DEFAULT_MAX_PIXELS)), vid_stride, max_frames)
    started = time.perf_counter()
    if not todo:
        records: Iterator[dict] = iter(())
    elif use_ray:
        resources = (actors, cpus_per_actor, gpus_per_actor)
        records = _ray_records(todo, done, options, address, resources, decoding)
    else:
        records = _local_records(todo, done, options, decoding, progress)
    processed = 0
    pending: list[dict] = []
    for record in records:
        if record["error"] and on_error is not None:
            on_error(record["error"])
        pending.append(record)
        if len(pending) >= part_inputs:
            writer.write(*flatten(pending))
            processed, pending = processed + len(pending), []
    writer.write(*flatten(pending))
    processed += len(pending)
    return summarize(Path(out), time.perf_counter() - started, processed)


def _local_records(
    todo: list[str], done: dict, options: dict, decoding: tuple, progress: bool
) -> Iterator[dict]:
    from tqdm import tqdm

    actor = PipelineActor(options)
    for source in tqdm(todo, unit="input", disable=None if progress else True, file=sys.stderr):
        skip = frozenset(f for f in done.get(source, ()) if f is not None)
        for frame, image, error in decode(source, *decoding, skip_frames=skip):
            yield actor.record(source, frame, image, error)


def decoded_rows(
    row: dict[str, Any],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    vid_stride: int = 1,
    max_frames: int | None = None,
    skip_frames: frozenset[int] = frozenset(),
) -> Iterator[dict[str, Any]]:
    """A Ray Data `flat_map` function: {"source": path or URI} -> one row per photo or kept
    video frame, as `PipelineActor` takes them (frame -1 for a photo; an input that fails
    has an empty image and its error). A generator: a long video streams, frame by frame."""
    source = row["source"]
    for frame, image, error in decode(source, max_pixels, vid_stride, max_frames, skip_frames):
        yield {
            "source": source,
            "frame": -1 if frame is None else frame,
            "image": NO_IMAGE if image is None else image,
            "error": error or "",
        }


def _ray_records(
    todo: list[str],
    done: dict,
    options: dict,
    address: str | None,
    resources: tuple[int | None, float, float],
    decoding: tuple,
) -> Iterator[dict]:
    import ray

    actors, cpus_per_actor, gpus_per_actor = resources
    if not ray.is_initialized():
        ray.init(address=address or None, log_to_driver=False)
    partly = {s: frozenset(f for f in done[s] if f is not None) for s in todo if s in done}
    actor_options = {**options, "threads": max(1, int(cpus_per_actor))}
    if actors is None:
        actors = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_actor))

    def read_and_decode(row: dict) -> Iterator[dict]:
        yield from decoded_rows(row, *decoding, skip_frames=partly.get(row["source"], frozenset()))

    blocks = max(1, min(len(todo), -(-len(todo) // INPUTS_PER_BLOCK)))
    dataset = (
        ray.data.from_items([{"source": s} for s in todo], override_num_blocks=blocks)
        .flat_map(read_and_decode, num_cpus=DECODE_CPUS, concurrency=actors, max_retries=-1)
        .map_batches(
            PipelineActor,
            fn_constructor_kwargs={"options": actor_options},
            batch_size=8,
            concurrency=actors,
            num_cpus=cpus_per_actor,
            num_gpus=gpus_per_actor,
            # A killed actor is restarted and its unfinished batches run again.
            max_restarts=-1,
            max_task_retries=-1,
        )
    )
    for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        for text in batch.column("record").to_pylist():
            yield json.loads(text)


def build_parser() -> argparse.ArgumentParser:
    """`python -m edge_runtime batch` options."""
    parser = argparse.ArgumentParser(
        prog=f"{program_name()} batch",
        description="Faces, masks and gender over many photos and videos, to Parquet; "
        "in one process, or on Ray Data with --ray.",
        epilog="Exit codes: 0 all inputs processed, 1 some inputs failed, 2 usage error, "
        "130 stopped by Ctrl-C (run it again to go on). With --ray, --threads is replaced "
        "by --cpus-per-actor.",
    )
    parser.add_argument(
        "source",
        nargs="+",
        help="image, folder, glob pattern (quoted), video, URI, or a .txt/.csv/.parquet list",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (resumes)")
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run on Ray Data (write --ray=ADDRESS before the sources); without an address, "
        "Ray's own choice: RAY_ADDRESS, a cluster started here with `ray start`, else a "
        "new local one",
    )
    parser.add_argument(
        "--actors", type=positive_int, default=None, help="Ray: pipelines (CPUs allow)"
    )
    parser.add_argument(
        "--cpus-per-actor", type=float, default=1, help="Ray: CPUs (model threads) per actor (1)"
    )
    parser.add_argument(
        "--gpus-per-actor",
        type=float,
        default=None,
        help="Ray: GPUs per actor (default: 1 when --providers names a GPU one, else 0)",
    )
    parser.add_argument(
        "--vid-stride", type=positive_int, default=1, help="use every n-th video frame"
    )
    parser.add_argument(
        "--max-frames", type=positive_int, default=None, help="frames per video at most"
    )
    parser.add_argument(
        "--part-size",
        type=positive_int,
        default=PART_INPUTS,
        help=f"images per part ({PART_INPUTS})",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_pipeline_arguments(parser)
    return parser


def main(argv: list[str]) -> int:
    """Run a batch job; returns the exit code."""
    from tqdm import tqdm

    from edge_runtime.manifest import ModelIntegrityError
    from edge_runtime.sessions import ProviderUnavailableError, resolve_providers

    args = parse_checked(build_parser(), argv)
    missing = _missing_packages(args.ray is not None)
    if missing:
        print(f'error: {missing}: pip install "edge-runtime[scale]"', file=sys.stderr)
        return EXIT_USAGE
    providers = args.providers  # on Ray, each actor resolves them on its own machine
    if args.ray is None:
        try:
            providers = resolve_providers(args.providers, fallback=args.fallback)
        except ProviderUnavailableError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    try:
        PartWriter(args.out)
    except OSError as exc:
        print(f"error: cannot write to {args.out} ({exc.strerror or exc})", file=sys.stderr)
        return EXIT_USAGE
    options = {**pipeline_kwargs(args, providers), "fallback": args.fallback}
    gpus = args.gpus_per_actor
    if gpus is None:
        gpus = 0 if all(p.lower() in ("cpu", "cpuexecutionprovider") for p in providers) else 1
    try:
        summary = run_batch(
            args.source,
            args.out,
            options=options,
            use_ray=args.ray is not None,
            address=args.ray or None,
            actors=args.actors,
            cpus_per_actor=args.cpus_per_actor,
            gpus_per_actor=gpus,
            vid_stride=args.vid_stride,
            max_frames=args.max_frames,
            part_inputs=args.part_size,
            on_error=lambda message: tqdm.write(f"error: {message}", file=sys.stderr),
        )
    except (ModelIntegrityError, ProviderUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"stopped: what is in {args.out} is complete; run again to go on", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # Ray's own failures (a cluster lost, actors that cannot start)
        if type(exc).__module__.split(".")[0] != "ray":
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: Ray: {reason}", file=sys.stderr)
        return EXIT_SOME_FAILED
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():  # Ray's late messages print before the summary
        ray.shutdown()
    print(json.dumps(summary) if args.json else "\n".join(summary_lines(summary, args.out)))
    return EXIT_SOME_FAILED if summary["errors"] else EXIT_OK


def _missing_packages(ray_too: bool) -> str | None:
    """What is missing of the scale extra: "batch needs pyarrow", "--ray needs Ray", or None."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        return "batch needs pyarrow"
    if ray_too and importlib.util.find_spec("ray") is None:
        return "--ray needs Ray"
    return None
