"""`python -m edge_runtime serve`: the pipeline as an HTTP service (FastAPI on uvicorn).

The models load once at start. `POST /v1/predict` takes an image (a multipart upload or a
raw JPEG/PNG body) and answers the CLI's JSON for it; `GET /health`, `GET /v1/models`,
OpenAPI docs at `/docs`, and a page at `/` to try it. Inference runs in worker threads
(`--workers`, ONNX Runtime sessions are shared: their `run` is thread-safe); at most
`--queue` more requests wait, and beyond that the answer is 503 at once rather than
memory spent on a backlog. Every error is a 4xx (or 503) with a one-line JSON body
`{"error": "..."}`. With `--source` (a camera index or a video file) the service also
tracks faces on it: a live annotated MJPEG stream and the running counts.
Needs the `serve` extra: `pip install .[serve]`.
"""

import argparse
import asyncio
import base64
import contextlib
import io
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from edge_runtime import __version__
from edge_runtime.image_io import (
    DEFAULT_MAX_PIXELS,
    ImageLoadError,
    ImageTooLargeError,
    load_image_bytes,
)
from edge_runtime.manifest import (
    DEFAULT_MODELS_DIR,
    NETWORKS,
    ClassifierEntry,
    ModelFile,
    read_manifest,
)
from edge_runtime.sources import SourceError, check_opens

if TYPE_CHECKING:
    from edge_runtime.pipeline import Pipeline

DEFAULT_MAX_BODY = 20 * 1024 * 1024


@dataclass
class ServeConfig:
    """What the service was started with: the Pipeline's keyword arguments (the CLI's
    flags, `options.pipeline_kwargs`) and the service's own limits."""

    pipeline: dict = field(default_factory=dict)
    workers: int = 1
    queue: int = 8
    max_body: int = DEFAULT_MAX_BODY
    source: str | None = None
    access_log: bool = False

    def __post_init__(self) -> None:
        lows = {"workers": 1, "queue": 0, "max_body": 1}
        wrong = [f"{k} must be at least {low}, not {getattr(self, k)}" for k, low in lows.items()
                 if getattr(self, k) < low]  # fmt: skip
        if wrong:
            raise ValueError("; ".join(wrong))

    @property
    def max_pixels(self) -> int:
        return self.pipeline.get("max_pixels", DEFAULT_MAX_PIXELS)

    @property
    def models(self) -> Path:
        return Path(self.pipeline.get("models") or DEFAULT_MODELS_DIR)


class BodyTooLarge(Exception):
    """A request body over the limit, found while it is read."""


class LimitBody:
    """ASGI middleware: refuse (413) a body over `limit` bytes, by its Content-Length
    header or, without one, as soon as the bytes read pass the limit."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._refuse(send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        from starlette.responses import JSONResponse

        message = f"request body over the limit of {self.limit} bytes"
        response = JSONResponse({"error": message}, status_code=413)
        await response({"type": "http"}, None, send)


class AccessLog:
    """ASGI middleware: one stderr line per request, `client "METHOD /path" status ms`."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        import sys
        import time

        started, status = time.perf_counter(), 500

        async def noting(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            client = (scope.get("client") or ("-",))[0]
            query = scope.get("query_string", b"").decode("latin-1")
            query = f"?{query}" if query else ""
            ms = 1000 * (time.perf_counter() - started)
            line = f'{client} "{scope["method"]} {scope["path"]}{query}" {status} {ms:.1f} ms'
            print(line, file=sys.stderr, flush=True)


class CameraFeed:
    """Faces tracked on a camera or video in a background thread (`Pipeline.stream`): the
    latest annotated JPEG and the running summary. A video file plays at its own frame
    rate, once."""

    def __init__(self, source: str, pipeline: "Pipeline") -> None:
        self.source = source
        self.run = pipeline.stream(source, realtime=True)
        self.jpeg: bytes | None = None
        self.error: str | None = None
        self.final: dict | None = None
        self.done = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from PIL import Image

        from edge_runtime.streaming import Summary

        try:
            for item in self.run:
                if self._stop.is_set():
                    break
                if isinstance(item, Summary):
                    self.final = item.data
                elif item.error is not None:
                    self.error = item.error
                else:
                    buffer = io.BytesIO()
                    Image.fromarray(item.plot()).save(buffer, "JPEG", quality=80)
                    self.jpeg = buffer.getvalue()
        finally:
            self.done = True

    def summary(self) -> dict:
        """The running counts (people, masks, genders, tracks)."""
        summary = self.run.live_summary() or self.final or self._no_frames_yet()
        summary = {**summary, "source": self.source, "done": self.done}
        if self.error:
            summary["error"] = self.error
        return summary

    def stop(self) -> None:
        self._stop.set()

    @staticmethod
    def _no_frames_yet() -> dict:
        """The counts before the first frame: an empty tracker's."""
        from edge_runtime.tracking import Tracker

        return {"frames": 0, **Tracker().summary()}


def model_list(models_dir: Path) -> list[dict]:
    """One item per ONNX file in the manifest, by name: kind, version (the first 12 hex
    digits of its sha256), sha256, bytes, input shape and the threshold it is used at; a
    classifier's class names, a detector network's detector (e.g. "finetuned_pnet": the
    P-Net of "finetuned", kind "mtcnn_stage")."""

    def item(name: str, kind: str, model: ModelFile, threshold: float) -> dict:
        return {
            "name": name,
            "kind": kind,
            "version": model.sha256[:12],
            "file": model.file,
            "sha256": model.sha256,
            "bytes": model.bytes,
            "input_shape": list(model.input.shape),
            "threshold": threshold,
        }

    items = []
    for name, entry in read_manifest(models_dir).models.items():
        if isinstance(entry, ClassifierEntry):
            own = {"class_names": list(entry.class_names), "weights_dtype": entry.weights_dtype}
            items.append({**item(name, "classifier", entry.model, entry.threshold), **own})
            continue
        for net, model, threshold in zip(NETWORKS, entry.files, entry.thresholds, strict=True):
            network = item(f"{name}_{net}", "mtcnn_stage", model, threshold)
            items.append({**network, "detector": name})
    return sorted(items, key=lambda m: m["name"])


def create_app(config: ServeConfig, pipeline=None):
    """The FastAPI application; `pipeline` (built from `config` if None) is shared.
    SourceError where `config.source` gives no frame."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from edge_runtime.pipeline import Pipeline

    if config.source is not None:
        check_opens(config.source)  # a missing camera is one line at start, not a quiet feed
    if pipeline is None:
        pipeline = Pipeline(**config.pipeline)
    pipeline.warmup()  # sessions built and run once, so the first request is not the slow one
    models = model_list(config.models)
    workers = asyncio.Semaphore(config.workers)
    state = {"admitted": 0, "served": 0}
    camera = CameraFeed(config.source, pipeline) if config.source is not None else None

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        if camera is not None:
            camera.stop()

    app = FastAPI(
        title="edge_runtime",
        version=__version__,
        summary="Faces, masks and gender in photos, on ONNX Runtime.",
        lifespan=lifespan,
    )
    app.add_middleware(LimitBody, limit=config.max_body)
    if config.access_log:
        app.add_middleware(AccessLog)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}"}, 422)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception):
        return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, 500)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        return resources.files("edge_runtime").joinpath("page.html").read_text()

    @app.get("/health")
    async def health() -> dict:
        """Liveness and load: requests admitted now, served so far, the limits, and the
        options every request starts from."""
        return {
            "status": "ok",
            "version": __version__,
            "models": len(models),
            "admitted": state["admitted"],
            "served": state["served"],
            "workers": config.workers,
            "queue": config.queue,
            "camera": camera is not None,
            "options": pipeline.options.to_dict(),
        }

    @app.get("/v1/models")
    async def list_models() -> list[dict]:
        """Every model in the manifest: name, version, sha256, input shape, classes."""
        return models

    @app.post(
        "/v1/predict",
        openapi_extra={
            "parameters": _option_parameters(),
            "requestBody": {
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    },
                    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                    "image/png": {"schema": {"type": "string", "format": "binary"}},
                },
                "required": True,
            },
        },
    )
    async def predict(request: Request) -> dict:
        """Every face in the image: the CLI's JSON. Send a multipart form with a `file`
        field, or the image itself as the body. `annotated=true` adds the annotated photo
        (`annotated_jpeg`, base64) for the page. `min_face`, `max_side`, `threshold`,
        `faces_only` and `no_flip` change the service's options for this image (`max_side`
        at most the service's own, so a request cannot lift its memory limit); anything
        else is refused (422)."""
        from edge_runtime.options import from_query, parse_value

        asked = dict(request.query_params)
        try:
            annotated = parse_value(asked.pop("annotated", "false"), bool, "annotated")
            options = from_query(asked, pipeline.options)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        if pipeline.cascade is None and not options.get("faces_only", True):
            raise HTTPException(422, "faces_only=false: the service started with --faces-only")
        limit = pipeline.options.max_side
        if limit and not 0 < options.get("max_side", limit) <= limit:
            raise HTTPException(422, f"max_side: at most the service's own, {limit}")
        name, data = await _image_bytes(request)
        if state["admitted"] >= config.workers + config.queue:
            busy = "busy: too many requests waiting; retry shortly"
            raise HTTPException(503, busy, {"Retry-After": "1"})
        state["admitted"] += 1
        try:
            async with workers:
                result = await run_in_threadpool(
                    _infer, pipeline, data, name, config.max_pixels, options
                )
        finally:
            state["admitted"] -= 1
        state["served"] += 1
        body = result.to_dict()
        if annotated:
            body["annotated_jpeg"] = base64.b64encode(_jpeg(result.plot())).decode()
        return body

    @app.get("/v1/stream", include_in_schema=camera is not None)
    async def stream():
        """The camera's annotated frames as MJPEG (`multipart/x-mixed-replace`)."""
        if camera is None:
            raise HTTPException(404, "no camera: start the service with --source")

        async def frames():
            last = None
            while True:
                if camera.jpeg is not None and camera.jpeg is not last:
                    last = camera.jpeg
                    yield b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + last + b"\r\n"
                elif camera.done and last is camera.jpeg:
                    return
                await asyncio.sleep(0.03)

        return StreamingResponse(frames(), media_type="multipart/x-mixed-replace; boundary=frame")

    @app.get("/v1/counts", include_in_schema=camera is not None)
    async def counts() -> dict:
        """People seen on the camera so far: with and without a mask, by gender, tracks."""
        if camera is None:
            raise HTTPException(404, "no camera: start the service with --source")
        return camera.summary()

    return app


async def _image_bytes(request) -> tuple[str, bytes]:
    """(name, bytes) of the image in a multipart `file` field or in the raw body."""
    from fastapi import HTTPException

    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(400, "multipart form without a `file` field")
        return upload.filename or "upload", await upload.read()
    data = await request.body()
    if not data:
        raise HTTPException(400, "empty body: send an image (JPEG, PNG...)")
    return "upload", data


def _infer(pipeline, data: bytes, name: str, max_pixels: int, options: dict):
    """Decode and run one image with the request's `options` (in a worker thread); decode
    errors become 4xx."""
    from fastapi import HTTPException

    try:
        image = load_image_bytes(data, name, max_pixels)
    except ImageTooLargeError as exc:
        raise HTTPException(413, str(exc)) from None
    except ImageLoadError as exc:
        raise HTTPException(400, str(exc)) from None
    return pipeline.run(image, path=name, **options)


def _option_parameters() -> list[dict]:
    """`annotated` and the per-request options as OpenAPI query parameters, described as
    `Options` does."""
    import dataclasses

    from edge_runtime.options import Options

    kinds = {"bool": "boolean", "int": "integer", "float": "number"}
    annotated = {
        "name": "annotated",
        "in": "query",
        "required": False,
        "schema": {"type": "boolean", "default": False},
        "description": "add the annotated photo (`annotated_jpeg`, base64 JPEG)",
    }
    return [annotated] + [
        {
            "name": f.name,
            "in": "query",
            "required": False,
            "schema": {"type": kinds[f.type.split(" ")[0]]},
            "description": f.metadata["help"],
        }
        for f in dataclasses.fields(Options)
        if f.name in Options.PER_CALL
    ]


def _jpeg(rgb) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def build_parser() -> argparse.ArgumentParser:
    """The service's options: the CLI's detector and cascade options, then its own."""
    from edge_runtime.options import (
        add_pipeline_arguments,
        number_between,
        positive_int,
        program_name,
    )

    parser = argparse.ArgumentParser(prog=f"{program_name()} serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port", type=number_between(int, 0, 65535), default=8000, help="port (8000; 0: any free)"
    )
    parser.add_argument(
        "--workers", type=positive_int, default=1, help="images inferred at once (1)"
    )
    parser.add_argument(
        "--queue",
        type=number_between(int, 0),
        default=8,
        help="requests that may wait beyond those (8)",
    )
    parser.add_argument(
        "--max-body-mb",
        type=number_between(float, 0.001),
        default=DEFAULT_MAX_BODY / 2**20,
        help=f"largest request body, MB ({DEFAULT_MAX_BODY / 2**20:g})",
    )
    parser.add_argument(
        "--source", default=None, help="a camera index or video file to track (none)"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no access log (the start-up line stays)"
    )
    add_pipeline_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Start the service; exit codes as the CLI's (2: bad option, models or extra)."""
    import sys

    from edge_runtime.manifest import ModelIntegrityError
    from edge_runtime.options import EXIT_USAGE, parse_checked, pipeline_kwargs
    from edge_runtime.sessions import ProviderUnavailableError, resolve_providers

    args = parse_checked(build_parser(), argv)
    try:
        import uvicorn
    except ImportError:
        print("error: the service needs the serve extra: pip install .[serve]", file=sys.stderr)
        return EXIT_USAGE
    try:
        providers = resolve_providers(args.providers, fallback=args.fallback)
        config = ServeConfig(
            pipeline_kwargs(args, providers),
            args.workers,
            args.queue,
            int(args.max_body_mb * 2**20),
            args.source,
            access_log=not args.quiet,
        )
        app = create_app(config)
    except (ProviderUnavailableError, ModelIntegrityError, SourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # python-multipart logs a bad form's parse error that the 400 answer already gives.
    logging.getLogger("python_multipart").setLevel(logging.ERROR)
    try:  # bound before the start-up line, so a busy port is one line and exit 2
        family, kind, proto, _, address = socket.getaddrinfo(
            args.host, args.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        where = f"[{args.host}]" if ":" in args.host else args.host
        print(f"error: cannot listen on {where}:{args.port} ({exc.strerror})", file=sys.stderr)
        return EXIT_USAGE
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"edge_runtime {__version__} serving on http://{host}:{port}/ "
        f"({', '.join(providers)}; {args.workers} worker(s), queue {args.queue}"
        f"{', camera ' + args.source if args.source else ''}); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
    return 0
