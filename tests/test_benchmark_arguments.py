"""Every benchmark checks --out and --models when it reads its command line, so a wrong path
is one usage line (exit 2) before a long measurement, not a traceback after it."""

import importlib

import pytest

BENCHMARKS = [
    "accuracy", "batch_throughput", "classifier_latency", "closeups", "input_size",
    "mask_photos", "masked_photos", "options_ab", "robustness", "scenes", "seed_canvases",
    "serve_load", "video_tracking",
]  # fmt: skip
WITH_MODELS = ["closeups", "mask_photos", "masked_photos", "robustness", "scenes", "seed_canvases"]


def stop_of(module: str, argv: list[str]) -> SystemExit:
    main = importlib.import_module(f"benchmarks.{module}").main
    with pytest.raises(SystemExit) as stop:
        main(argv)
    return stop.value


@pytest.mark.parametrize("module", BENCHMARKS)
def test_an_out_under_a_file_is_a_usage_error(module, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert stop_of(module, ["--out", str(tmp_path / "file" / "result")]).code == 2
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("module", BENCHMARKS)
def test_an_out_that_is_a_folder_is_a_usage_error(module, tmp_path, capsys):
    assert stop_of(module, ["--out", str(tmp_path)]).code == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("module", WITH_MODELS)
def test_models_without_a_manifest_is_a_usage_error(module, tmp_path, capsys):
    assert stop_of(module, ["--models", str(tmp_path)]).code == 2
    assert "not a models folder (no manifest.json)" in capsys.readouterr().err


def test_a_stem_in_a_folder_not_made_yet_is_taken(tmp_path):
    from benchmarks.report import report_stem

    assert report_stem(str(tmp_path / "new" / "result")) == tmp_path / "new" / "result"
