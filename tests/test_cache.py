"""Remembered file hashes: trusted while a file is unchanged, never once it has changed,
even in place with its old size and mtime."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from edge_runtime import cache
from edge_runtime.cache import remembered_sha256, sha256_of
from edge_runtime.manifest import DEFAULT_MODELS_DIR, ModelIntegrityError, verified_detector


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch) -> Path:
    """A private cache folder that remembers hashes of files left alone for 20 ms."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("EDGE_ORT_CACHE", str(folder))
    monkeypatch.setattr(cache, "SETTLED_NS", 20_000_000)  # 20 ms: these files are new
    return folder


def rewrite_in_place(path: Path, data: bytes) -> None:
    """New content of the same size with the old mtime: only the ctime tells."""
    info = path.stat()
    time.sleep(0.05)
    path.write_bytes(data)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def test_a_hash_is_remembered_until_the_file_changes(tmp_path: Path, private_cache: Path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"first version of the weights")
    time.sleep(0.05)
    assert remembered_sha256(path) == sha256_of(path)
    (record,) = (private_cache / "sha256").iterdir()
    identity, digest = record.read_text().rsplit(" ", 1)
    record.write_text(f"{identity} {'0' * 64}\n")
    assert remembered_sha256(path) == "0" * 64  # the record, not the file, answered
    rewrite_in_place(path, b"other version of the weights")
    assert remembered_sha256(path) == sha256_of(path) != digest.strip()


def test_a_just_written_or_changing_file_is_not_remembered(
    tmp_path: Path, private_cache: Path, monkeypatch
):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"the weights")
    monkeypatch.setattr(cache, "SETTLED_NS", 2_000_000_000)
    assert remembered_sha256(path) == sha256_of(path)
    assert not list((private_cache / "sha256").iterdir())  # its times could still repeat
    monkeypatch.setattr(cache, "SETTLED_NS", 0)

    def hash_while_it_changes(target: Path) -> str:
        digest = sha256_of(target)
        with open(target, "ab") as f:
            f.write(b"more")
        return digest

    monkeypatch.setattr(cache, "sha256_of", hash_while_it_changes)
    remembered_sha256(path)
    assert not list((private_cache / "sha256").iterdir())


def test_a_network_damaged_after_its_check_is_still_refused(tmp_path: Path, private_cache):
    models = tmp_path / "models"
    shutil.copytree(DEFAULT_MODELS_DIR / "mtcnn", models / "mtcnn")
    shutil.copy(DEFAULT_MODELS_DIR / "manifest.json", models / "manifest.json")
    time.sleep(0.05)
    verified_detector(models, "mtcnn")
    records = list((private_cache / "sha256").iterdir())
    assert len(records) == 3
    for record in records:  # wrong or damaged records are read past, and replaced
        identity = record.read_text().rsplit(" ", 1)[0]
        record.write_text(f"{identity} {'0' * 64 if record == records[0] else 'z' * 64}\n")
    verified_detector(models, "mtcnn")
    digests = {record.read_text().rsplit(" ", 1)[1].strip() for record in records}
    assert "0" * 64 not in digests and "".join(digests) == "".join(digests).strip("z")
    onet = models / "mtcnn" / "onet.onnx"
    data = bytearray(onet.read_bytes())
    data[len(data) // 2] ^= 0xFF
    rewrite_in_place(onet, bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"onet\.onnx has sha256"):
        verified_detector(models, "mtcnn")


@pytest.mark.parametrize("setting", ["off", "shared"])
def test_without_a_private_cache_every_check_hashes(tmp_path: Path, monkeypatch, setting):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"the weights")
    if setting == "shared":
        (tmp_path / "shared").mkdir(mode=0o777)
        (tmp_path / "shared").chmod(0o777)
        setting = str(tmp_path / "shared")
    monkeypatch.setenv("EDGE_ORT_CACHE", setting)
    monkeypatch.setattr(cache, "SETTLED_NS", 0)
    assert remembered_sha256(path) == sha256_of(path)
    assert not list(tmp_path.rglob("sha256"))
