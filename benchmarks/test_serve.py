"""Latency of one `POST /v1/predict` (a seed photo, one face) through a real local server."""

from __future__ import annotations

import pytest

from benchmarks.serve_load import PHOTO, running_server

httpx = pytest.importorskip("httpx", reason="needs the dev extra (httpx)")
pytest.importorskip("fastapi", reason="needs the serve extra: pip install .[serve]")


def test_serve_one_photo(benchmark):
    photo = PHOTO.read_bytes()
    with running_server() as url, httpx.Client() as client:
        client.post(f"{url}/v1/predict", content=photo)  # warm-up

        def ask() -> int:
            return client.post(f"{url}/v1/predict", content=photo).status_code

        assert benchmark.pedantic(ask, rounds=30, warmup_rounds=2) == 200
