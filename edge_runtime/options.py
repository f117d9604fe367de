"""What the detector and the cascade do with a photo (`Options`), declared once for Python,
the CLI's flags, the service's query parameters and JSON; and the exit codes every command
uses."""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime.detectors import DEFAULT_DETECTOR, DEFAULT_MAX_SIDE, DETECTORS
from edge_runtime.image_io import DEFAULT_MAX_PIXELS

# 0 every input processed, 1 at least one input failed, 2 usage error, 130 Ctrl-C.
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

BorderRetries = tuple[tuple[float, float | None], ...]
# Smallest face looked for: P-Net's 12 px window, upscaled at most 3x (a 1920 px photo's
# first pyramid level is then 5760 px); below it memory grows without new faces.
MIN_FACE_FLOOR = 4.0


def _setting(default: Any, kind: type | None, help_text: str) -> Any:
    """A dataclass field with what flags and query parameters need: the value's type
    (None: Python only) and its help text."""
    return field(default=default, metadata={"kind": kind, "help": help_text})


@dataclass(frozen=True, kw_only=True)
class Options:
    """The detector's and the cascade's settings: one name per setting in Python
    (`Pipeline(threshold=0.9)`), flags (`--threshold 0.9`), query parameters
    (`?threshold=0.9`) and JSON. `PER_CALL` may change from one photo to the next
    (`Pipeline.run(image, threshold=0.9)`); the others are fixed when a Pipeline is built."""

    detector: str = _setting(
        DEFAULT_DETECTOR,
        str,
        "finetuned: MTCNN fine-tuned on masked faces; mtcnn: the reference weights",
    )
    min_face: float = _setting(20.0, float, f"smallest face, px, at least {MIN_FACE_FLOOR:g}")
    max_side: int = _setting(
        DEFAULT_MAX_SIDE, int, "detect on a copy shrunk to this longer side if larger; 0: full size"
    )
    threshold: float | None = _setting(
        None, float, "face detection confidence threshold, O-Net (default: the detector's)"
    )
    faces_only: bool = _setting(
        False, bool, "detect faces only, without the mask and gender models"
    )
    no_flip: bool = _setting(
        False,
        bool,
        "score each face once, without the mirrored crop a gender model's manifest may ask "
        "for: faster with many masked faces, a little less accurate",
    )
    max_pixels: int = _setting(DEFAULT_MAX_PIXELS, int, "refuse larger images")
    border_retries: BorderRetries | None = field(
        default=None,
        metadata={
            "kind": None,
            "help": "where no face is found, detect again on copies framed by a border: "
            "(share of the longer side, O-Net threshold or None) in turn; () never, None the "
            "detector's default",
        },
    )

    PER_CALL = ("min_face", "max_side", "threshold", "faces_only", "no_flip")

    def __post_init__(self) -> None:
        if self.max_side is None:  # None and 0 both mean full resolution
            object.__setattr__(self, "max_side", 0)
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; choose from {sorted(DETECTORS)}")
        check_number(self.min_face, "min_face", MIN_FACE_FLOOR, math.inf)
        check_number(self.max_side, "max_side", 0, math.inf, whole=True)
        check_number(self.max_pixels, "max_pixels", 1, math.inf, whole=True)
        if self.threshold is not None:
            check_number(self.threshold, "threshold", 0, 1)
        for name in ("faces_only", "no_flip"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def replace(self, **changes: Any) -> Options:
        """A copy with `changes`; unknown names raise TypeError naming them."""
        unknown = sorted(set(changes) - set(names()))
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(names())}")
        return dataclasses.replace(self, **changes)

    def per_call(self, **changes: Any) -> Options:
        """`replace` for one photo: only `PER_CALL` settings may change, the others (models
        to load) are fixed when the Pipeline is built."""
        self.refuse_fixed(changes)
        return self.replace(**changes)

    @classmethod
    def refuse_fixed(cls, wanted: Iterable[str]) -> None:
        """ValueError naming the settings in `wanted` that cannot change per photo."""
        fixed = sorted((set(wanted) & set(names())) - set(cls.PER_CALL))
        if fixed:
            raise ValueError(
                f"{', '.join(fixed)}: set when the pipeline is built; per photo only "
                f"{', '.join(cls.PER_CALL)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, under the same names."""
        return dataclasses.asdict(self)


def check_number(value: Any, name: str, low: float, high: float, whole: bool = False) -> None:
    """A number within [low, high] (a whole one if `whole`), or ValueError naming it."""
    kinds = numbers.Integral if whole else numbers.Real
    number = isinstance(value, kinds) and not isinstance(value, bool) and math.isfinite(value)
    if not number or not low <= value <= high:
        what = "a whole number" if whole else "a number"
        bounds = f"at least {low:g}" if math.isinf(high) else f"within {low:g}..{high:g}"
        raise ValueError(f"{name} must be {what} {bounds}, got {value!r}")


def names() -> tuple[str, ...]:
    """Every option's name, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(Options))


def kinds() -> dict[str, type]:
    """The type of each option that flags and query parameters can set."""
    return {f.name: f.metadata["kind"] for f in dataclasses.fields(Options) if f.metadata["kind"]}


def from_query(params: Mapping[str, str], base: Options) -> dict[str, Any]:
    """The per-call options of a query string (`?threshold=0.9&faces_only=true`) as
    `Pipeline.run` keywords, checked against `base`; a bad value, an unknown name or one
    that is not per-call raises ValueError in one line."""
    unknown = sorted(set(params) - set(names()))
    if unknown:
        raise ValueError(
            f"unknown query parameter {', '.join(unknown)} (per request: annotated, "
            f"{', '.join(Options.PER_CALL)})"
        )
    Options.refuse_fixed(params)  # before reading values that could not be used anyway
    changes = {name: parse_value(text, kinds()[name], name) for name, text in params.items()}
    base.per_call(**changes)
    return changes


FLAG_WORDS = {
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off"), False),
}


def parse_value(text: str, kind: type, name: str) -> Any:
    """A query string value as `kind` (a flag: true/false, also 1/0, yes/no, on/off, as
    FastAPI reads them); ValueError in one line."""
    try:
        if kind is bool:
            return FLAG_WORDS[text.lower()]
        return kind(text)
    except (KeyError, ValueError):
        expected = "true or false" if kind is bool else kind.__name__
        raise ValueError(f"{name}: cannot read {text!r} as {expected}") from None


def number_between(kind: type, low: float, high: float | None = None) -> Callable[[str], Any]:
    """argparse type for a number of `kind` (int or float) from low to high inclusive (no
    upper bound where high is None); any other text is a usage error."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            expected = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {expected}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if high is None and value < low:
            raise argparse.ArgumentTypeError(f"{value} is not at least {low}")
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


positive_int = number_between(int, 1)  # a count


def program_name() -> str:
    """How the user called us, for usage lines: `edge-runtime` or `python -m edge_runtime`."""
    return "edge-runtime" if Path(sys.argv[0]).name == "edge-runtime" else "python -m edge_runtime"


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """`Options` as flags (`min_face` is `--min-face`, defaults and help from the dataclass),
    then how to run the models: providers, threads, models folder."""
    for option in dataclasses.fields(Options):
        kind = option.metadata["kind"]
        if kind is None:
            continue
        flag = "--" + option.name.replace("_", "-")
        help_text = option.metadata["help"]
        if kind is bool:
            parser.add_argument(flag, action="store_true", help=help_text)
            continue
        choices = sorted(DETECTORS) if option.name == "detector" else None
        shown = _shown(option.default)
        parser.add_argument(
            flag, type=kind, default=option.default, choices=choices, help=help_text + shown
        )
    parser.add_argument(
        "--providers",
        nargs="+",
        default=["cpu"],
        metavar="NAME",
        help="cpu, cuda or tensorrt, in order of preference (cpu)",
    )
    parser.add_argument(
        "--fallback", action="store_true", help="drop unavailable providers instead of failing"
    )
    parser.add_argument(
        "--threads", type=positive_int, default=None, help="CPU threads per model (all cores)"
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=None,
        help="models folder (default: the models this package ships, wherever it is installed)",
    )


def _shown(default: Any) -> str:
    """A default as help text shows it: ` (20)`, ` (50,000,000)`, nothing for None."""
    if default is None:
        return ""
    if isinstance(default, float):
        return f" ({default:g})"
    if isinstance(default, int) and default >= 10_000:
        return f" ({default:,})"
    return f" ({default})"


def parse_checked(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """`parser.parse_args`, with bad `Options` values a usage error (one line, exit 2)."""
    args = parser.parse_args(argv)
    try:
        options_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def options_from_args(args: argparse.Namespace) -> Options:
    """The `Options` of parsed `add_pipeline_arguments` flags; a bad value raises ValueError."""
    return Options(**{name: getattr(args, name) for name in names() if hasattr(args, name)})


def pipeline_kwargs(args: argparse.Namespace, providers: list[str]) -> dict[str, Any]:
    """`Pipeline(**pipeline_kwargs(args, providers))` for parsed `add_pipeline_arguments`
    flags; `providers` resolved (`sessions.resolve_providers`), or names that
    `batch.PipelineActor` resolves on its own machine."""
    return {
        "models": args.models,
        "providers": providers,
        "threads": args.threads,
        **options_from_args(args).to_dict(),
    }
