"""Options: one name per setting in Python, flags, query parameters and JSON; per-photo
changes limited to what needs no other models."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from edge_runtime.options import Options, add_pipeline_arguments, from_query, pipeline_kwargs
from tests.conftest import TEST_DATA


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser)
    return parser.parse_args(list(argv))


def test_every_flag_is_an_option_of_the_same_name_and_default():
    args = parsed()
    for option in dataclasses.fields(Options):
        if option.name == "border_retries":  # Python only: a list of pairs
            assert not hasattr(args, option.name)
            continue
        assert getattr(args, option.name) == option.default, option.name
    kwargs = pipeline_kwargs(parsed("--min-face", "12", "--threshold", "0.9"), ["cpu"])
    assert Options(**{k: v for k, v in kwargs.items() if k in Options.__dataclass_fields__}) == (
        Options(min_face=12, threshold=0.9)
    )
    assert json.loads(json.dumps(Options(min_face=12).to_dict()))["min_face"] == 12


def test_unknown_and_bad_options_are_refused_in_one_line():
    with pytest.raises(TypeError, match=r"unknown option.*face_threshold"):
        Options().replace(face_threshold=0.9)
    with pytest.raises(ValueError, match="unknown detector"):
        Options(detector="yolo")
    with pytest.raises(ValueError, match=r"threshold must be a number within 0\.\.1, got 1\.5"):
        Options(threshold=1.5)
    for bad in (0.5, float("nan"), float("inf"), "12"):
        with pytest.raises(ValueError, match="min_face must be a number at least 4"):
            Options(min_face=bad)
    with pytest.raises(ValueError, match="faces_only must be True or False"):
        Options(faces_only="false")
    assert Options(max_side=None).max_side == 0  # full resolution, as 0
    with pytest.raises(ValueError, match="detector: set when the pipeline is built"):
        Options().per_call(detector="mtcnn")


def test_query_parameters_read_as_the_options_types():
    changes = from_query({"threshold": "0.95", "faces_only": "true", "min_face": "40"}, Options())
    assert changes == {"threshold": 0.95, "faces_only": True, "min_face": 40.0}
    for words, flag in (("1 Yes ON", True), ("0 no Off FALSE", False)):
        for word in words.split():  # as FastAPI reads a bool
            assert from_query({"faces_only": word}, Options()) == {"faces_only": flag}
    for query, words in (
        ({"threshold": "high"}, "cannot read 'high' as float"),
        ({"faces_only": "maybe"}, "cannot read 'maybe' as true or false"),
        ({"min_face": "nan"}, "min_face must be a number at least 4"),
        ({"max_pixels": "9"}, "max_pixels: set when the pipeline is built"),
        ({"face_threshold": "0.9"}, "unknown query parameter face_threshold"),
    ):
        with pytest.raises(ValueError, match=words):
            from_query(query, Options())


def test_mtcnn_and_pipeline_default_to_the_same_detector():
    from edge_runtime import MTCNN, Pipeline

    pipeline = Pipeline(faces_only=True, min_face=30)
    detector = MTCNN()
    assert (detector.thresholds, detector.pyramid) == (
        pipeline.detector.thresholds,
        pipeline.detector.pyramid,
    )
    assert pipeline.options.min_face == pipeline.detector.min_face == 30
    with pytest.raises(ValueError, match="faces_only=True"):
        pipeline.run(TEST_DATA / "male_image_with_mask.jpg", faces_only=False)
    with pytest.raises(TypeError, match="face_threshold"):
        Pipeline(face_threshold=0.9)
    for threads in (0, -1, 1.5):
        with pytest.raises(ValueError, match=f"threads must be a whole number .*not {threads}$"):
            Pipeline(threads=threads)
