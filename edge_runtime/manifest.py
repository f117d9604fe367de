"""The models manifest: one JSON file that names every shipped model and how to check it.

Every model file is listed with its sha256, input shape and preprocessing, so the
runtime can refuse a file that was swapped or damaged, and a reader can see what a
model expects without opening it. There are two kinds of entry, each with one typed
definition here: a classifier (one ONNX file and how to use its output) and a detector
(its P-Net, R-Net and O-Net files and all its settings). Writers (the export step) and
readers (the runtime) share this module, so the format is parsed and written in one place.

Format 2 (format 1 listed each MTCNN network as its own untyped entry)::

    {"format": 2, "models": {
      "mask": {"kind": "classifier", "file": "mask.onnx", "sha256": "...", "bytes": 23193158,
               "input": {"name": "image", "shape": [null, 64, 64, 3], "dtype": "float32"},
               "outputs": ["probability"], "preprocessing": "...", "task": "mask",
               "class_names": ["WithMask", "WithoutMask"], "threshold": 0.5,
               "test_time_flip": false, "crop_margin": 0.2, "weights_dtype": "int8",
               "provenance": {"metrics": {...}, "parity": {...}}},
      "finetuned": {"kind": "detector", "thresholds": [0.6, 0.6, 0.8], "pyramid": "chained",
                    "large_faces": {"from_px": 60.0, "threshold": 0.3},
                    "reference_box": {"shift": [...], "scale": [...], "faces": 766},
                    "pnet": {"file": "finetuned/pnet.onnx", "sha256": "...", ...,
                             "provenance": {"source": {...}, "converter": {...}, ...}},
                    "rnet": {...}, "onet": {...}}}}
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edge_runtime.cache import remembered_sha256, sha256_of
from edge_runtime.json_fields import Fields, Malformed, show

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 2
NETWORKS = ("pnet", "rnet", "onet")
# A detector written for the first time takes the networks its export does not give
# (e.g. the P-Net, when only R-Net and O-Net were fine-tuned) from this one.
REFERENCE_DETECTOR = "mtcnn"
_PACKAGE = Path(__file__).resolve().parent
# Installed from a wheel, the models are package data (edge_runtime/models); in a checkout
# or an editable install, the repository's models/ folder. EDGE_MODELS_DIR overrides both.
DEFAULT_MODELS_DIR = Path(
    os.environ.get("EDGE_MODELS_DIR")
    or next(
        (
            d
            for d in (_PACKAGE / "models", _PACKAGE.parent / "models")
            if (d / "manifest.json").exists()
        ),
        _PACKAGE.parent / "models",
    )
)


class ModelIntegrityError(RuntimeError):
    """A model file is missing, unlisted or does not match its manifest entry, or the
    manifest itself cannot be read (another format, a malformed entry)."""


@dataclass(frozen=True)
class TensorSpec:
    """A model's input: name, shape (None for a dimension of any size) and dtype."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str

    @classmethod
    def _parse(cls, fields: Fields) -> TensorSpec:
        shape = fields.items("shape")
        if not all(d is None or (type(d) is int and d > 0) for d in shape):
            raise Malformed(f"'{fields.at('shape')}' must hold sizes or null, not {shape}")
        spec = cls(fields.text("name"), tuple(shape), fields.text("dtype"))
        fields.done()
        return spec

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this input."""
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class ModelFile:
    """One ONNX file: its path under the models folder, sha256 and size (checked before it
    is loaded), what it takes and gives, and where it came from (free-form provenance:
    source weights, converter, training and gate numbers; never read by the runtime)."""

    file: str
    sha256: str
    bytes: int
    input: TensorSpec
    outputs: tuple[str, ...]
    preprocessing: str
    provenance: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def hashed(
        cls,
        models_dir: Path,
        file: str,
        input: TensorSpec,
        outputs: tuple[str, ...],
        preprocessing: str,
        provenance: dict[str, Any] | None = None,
    ) -> ModelFile:
        """The entry of a file just written under models_dir, with its sha256 and size."""
        path = Path(models_dir) / file
        return cls(
            file,
            sha256_of(path),
            path.stat().st_size,
            input,
            tuple(outputs),
            preprocessing,
            dict(provenance or {}),
        )

    @classmethod
    def _parse(cls, fields: Fields) -> ModelFile:
        sha256 = fields.text("sha256")
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise Malformed(f"'{fields.at('sha256')}' must be 64 lowercase hex digits")
        return cls(
            fields.text("file"),
            sha256,
            fields.integer("bytes"),
            TensorSpec._parse(fields.sub("input")),
            fields.texts("outputs"),
            fields.text("preprocessing"),
            fields.plain("provenance"),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this file."""
        return {
            "file": self.file,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "input": self.input.to_json(),
            "outputs": list(self.outputs),
            "preprocessing": self.preprocessing,
            "provenance": self.provenance,
        }


@dataclass(frozen=True)
class ClassifierEntry:
    """A binary classifier on face crops: its file, class names (it gives P(class_names[1])),
    decision threshold, the crop margin it was trained with, whether to average with the
    mirrored crop, and how its weights are stored."""

    model: ModelFile
    task: str
    class_names: tuple[str, ...]
    threshold: float
    crop_margin: float
    test_time_flip: bool
    weights_dtype: str

    kind: ClassVar[str] = "classifier"

    @property
    def input_size(self) -> int:
        """The side of the square crops it takes (input NHWC: N, S, S, 3)."""
        return int(self.model.input.shape[1])

    @property
    def files(self) -> tuple[ModelFile, ...]:
        """Its one file."""
        return (self.model,)

    @classmethod
    def _parse(cls, fields: Fields) -> ClassifierEntry:
        model = ModelFile._parse(fields)
        shape = model.input.shape
        if len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] != 3:
            raise Malformed(f"'input.shape' must be [N, S, S, 3] (NHWC crops), not {shape}")
        entry = cls(
            model,
            fields.text("task"),
            fields.texts("class_names", 2),
            fields.number("threshold", 0.0, 1.0),
            fields.number("crop_margin", 0.0, 10.0),
            fields.flag("test_time_flip"),
            fields.text("weights_dtype"),
        )
        fields.done()
        return entry

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this entry: its file's keys and the classifier's own."""
        data = self.model.to_json()
        provenance = data.pop("provenance")
        return {
            "kind": self.kind,
            **data,
            "task": self.task,
            "class_names": list(self.class_names),
            "threshold": self.threshold,
            "test_time_flip": self.test_time_flip,
            "crop_margin": self.crop_margin,
            "weights_dtype": self.weights_dtype,
            "provenance": provenance,
        }


@dataclass(frozen=True)
class LargeFaces:
    """P-Net's own threshold on the pyramid levels whose windows are faces of from_px or more."""

    from_px: float
    threshold: float


@dataclass(frozen=True)
class ReferenceBox:
    """How the reference MTCNN would draw a detector's boxes: centre shift and size ratio
    (fractions of the box), the median over `faces` training faces."""

    shift: tuple[float, float]
    scale: tuple[float, float]
    faces: int

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this convention."""
        return {"shift": list(self.shift), "scale": list(self.scale), "faces": self.faces}


@dataclass(frozen=True)
class DetectorEntry:
    """An MTCNN detector: its three network files and every setting the runtime takes
    from the manifest (P-Net, R-Net, O-Net thresholds; the pyramid its P-Net runs on;
    P-Net's threshold for large faces; the reference box convention; None: none)."""

    pnet: ModelFile
    rnet: ModelFile
    onet: ModelFile
    thresholds: tuple[float, float, float]
    pyramid: str
    large_faces: LargeFaces | None = None
    reference_box: ReferenceBox | None = None

    kind: ClassVar[str] = "detector"

    @property
    def files(self) -> tuple[ModelFile, ...]:
        """P-Net, R-Net and O-Net."""
        return (self.pnet, self.rnet, self.onet)

    @classmethod
    def _parse(cls, fields: Fields) -> DetectorEntry:
        networks = {}
        for net in NETWORKS:
            sub = fields.sub(net)
            networks[net] = ModelFile._parse(sub)
            sub.done()
        large_faces = reference_box = None
        large = fields.sub("large_faces", optional=True)
        if large is not None:
            large_faces = LargeFaces(large.number("from_px", 0.0), large.number("threshold", 0, 1))
            large.done()
        box = fields.sub("reference_box", optional=True)
        if box is not None:
            reference_box = ReferenceBox(
                box.numbers("shift", 2), box.numbers("scale", 2, 0.0), box.integer("faces")
            )
            box.done()
        entry = cls(
            **networks,
            thresholds=fields.numbers("thresholds", 3, 0.0, 1.0),
            pyramid=fields.text("pyramid"),
            large_faces=large_faces,
            reference_box=reference_box,
        )
        fields.done()
        return entry

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this entry: settings first, then the three networks."""
        large = self.large_faces
        return {
            "kind": self.kind,
            "thresholds": list(self.thresholds),
            "pyramid": self.pyramid,
            "large_faces": large and {"from_px": large.from_px, "threshold": large.threshold},
            "reference_box": self.reference_box and self.reference_box.to_json(),
            **{net: getattr(self, net).to_json() for net in NETWORKS},
        }


Entry = ClassifierEntry | DetectorEntry
_KINDS: dict[str, type[ClassifierEntry] | type[DetectorEntry]] = {
    "classifier": ClassifierEntry,
    "detector": DetectorEntry,
}


def parse_entry(name: str, data: Any, where: str | Path = MANIFEST_NAME) -> Entry:
    """The typed entry `name` of a manifest from its JSON object; ModelIntegrityError with
    a one-line reason when it is malformed."""
    try:
        fields = Fields(data, "")
        kind = fields.text("kind")
        if kind not in _KINDS:
            raise Malformed(f"'kind' must be one of {sorted(_KINDS)}, not {show(kind)}")
        return _KINDS[kind]._parse(fields)
    except Malformed as exc:
        raise ModelIntegrityError(f"{where}: entry '{name}' is malformed: {exc}") from None


@dataclass(frozen=True)
class Manifest:
    """Every entry of a models folder's manifest, by name; `path` for messages."""

    models: Mapping[str, Entry]
    path: Path = Path(MANIFEST_NAME)

    def classifier(self, name: str) -> ClassifierEntry:
        """The classifier entry `name`; ModelIntegrityError when absent or another kind."""
        entry = self._entry(name, "classifier")
        assert isinstance(entry, ClassifierEntry)
        return entry

    def detector(self, name: str) -> DetectorEntry:
        """The detector entry `name`; ModelIntegrityError when absent or another kind."""
        entry = self._entry(name, "detector")
        assert isinstance(entry, DetectorEntry)
        return entry

    def _entry(self, name: str, kind: str) -> Entry:
        entry = self.models.get(name)
        if entry is None:
            raise ModelIntegrityError(f"{kind} '{name}' is not listed in {self.path}")
        if entry.kind != kind:
            raise ModelIntegrityError(f"'{name}' in {self.path} is a {entry.kind}, not a {kind}")
        return entry

    def to_json(self) -> dict[str, Any]:
        """The JSON document, entries sorted by name."""
        models = {name: self.models[name].to_json() for name in sorted(self.models)}
        return {"format": MANIFEST_FORMAT, "models": models}


def read_manifest(models_dir: Path) -> Manifest:
    """The manifest of a models folder, every entry parsed; an empty one where the folder
    has none yet. ModelIntegrityError, in one line, for another format or a bad entry."""
    path = Path(models_dir) / MANIFEST_NAME
    if not path.exists():
        return Manifest({}, path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelIntegrityError(f"{path} cannot be read as JSON: {exc}") from None
    version = data.get("format") if isinstance(data, dict) else None
    if version != MANIFEST_FORMAT:
        raise ModelIntegrityError(
            f"{path} is manifest format {version}; this version reads format "
            f"{MANIFEST_FORMAT} only: use the models folder shipped with it, or export again"
        )
    if not isinstance(data.get("models"), dict):
        raise ModelIntegrityError(f"{path}: 'models' must be an object of entries by name")
    return Manifest({name: parse_entry(name, e, path) for name, e in data["models"].items()}, path)


def write_manifest(models_dir: Path, manifest: Manifest) -> Manifest:
    """Write a models folder's manifest; returns it as it reads back (every entry is parsed
    first, so a writer cannot leave what the runtime would refuse)."""
    path = Path(models_dir) / MANIFEST_NAME
    document = manifest.to_json()
    written = {
        name: parse_entry(name, json.loads(json.dumps(data)), path)
        for name, data in document["models"].items()
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return Manifest(written, path)


def write_entry(models_dir: Path, name: str, entry: Entry) -> Entry:
    """Add or replace one entry of a models folder's manifest; returns it as written."""
    manifest = read_manifest(models_dir)
    written = write_manifest(models_dir, Manifest({**manifest.models, name: entry}, manifest.path))
    return written.models[name]


def update_detector(
    models_dir: Path, name: str, change: Callable[[DetectorEntry], DetectorEntry]
) -> DetectorEntry:
    """Write `change` of a detector's entry: an export that replaces some networks and
    settings keeps the rest. A detector not listed yet starts from the reference one."""
    manifest = read_manifest(models_dir)
    base = manifest.models.get(name) or manifest.models.get(REFERENCE_DETECTOR)
    if not isinstance(base, DetectorEntry):
        raise ModelIntegrityError(
            f"detector '{name}' is not in {manifest.path}, nor the reference "
            f"'{REFERENCE_DETECTOR}' to take its other networks from: "
            "run `python -m export mtcnn` first"
        )
    entry = write_entry(models_dir, name, change(base))
    assert isinstance(entry, DetectorEntry)
    return entry


def verified_file(models_dir: Path, model: ModelFile) -> Path:
    """The path of a listed file, after checking its sha256 (remembered while the file is
    unchanged, `cache.remembered_sha256`); ModelIntegrityError, in one line, when it is
    missing or differs."""
    path = Path(models_dir) / model.file
    if not path.is_file():
        raise ModelIntegrityError(f"model file {path} is missing")
    actual = remembered_sha256(path)
    if actual != model.sha256:  # read once more, whatever was remembered
        actual = remembered_sha256(path, recheck=True)
    if actual != model.sha256:
        raise ModelIntegrityError(
            f"model file {path} has sha256 {actual[:12]}..., the manifest expects "
            f"{model.sha256[:12]}...: the file was changed or damaged"
        )
    return path


def check_models_folder(models_dir: Path) -> None:
    """ModelIntegrityError, naming why, unless `models_dir` is a folder with a manifest."""
    if (models_dir / MANIFEST_NAME).is_file():
        return
    if models_dir.is_dir():
        why = f"not a models folder (no {MANIFEST_NAME})"
    else:
        why = "not a folder" if models_dir.exists() else "no such folder"
    raise ModelIntegrityError(f"models {models_dir}: {why}")


def verified_classifier(models_dir: Path, name: str) -> tuple[Path, ClassifierEntry]:
    """Path and entry of a classifier, after checking its file's sha256."""
    models_dir = Path(models_dir)
    check_models_folder(models_dir)
    entry = read_manifest(models_dir).classifier(name)
    return verified_file(models_dir, entry.model), entry


def verified_detector(models_dir: Path, name: str) -> tuple[dict[str, Path], DetectorEntry]:
    """Paths (by network: pnet, rnet, onet) and entry of a detector, after checking the
    sha256 of its three files."""
    models_dir = Path(models_dir)
    check_models_folder(models_dir)
    entry = read_manifest(models_dir).detector(name)
    paths = {net: verified_file(models_dir, getattr(entry, net)) for net in NETWORKS}
    return paths, entry
