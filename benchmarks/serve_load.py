"""`python -m benchmarks.serve_load`: requests per second and latency percentiles of the
HTTP service for one photo, at several numbers of clients at once, on this machine.

Starts `python -m edge_runtime serve` on a free loopback port (as the tests do), sends
warm-up requests, then for each concurrency a fixed number of requests of the same photo
from that many client threads (httpx), and stops the server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.report import add_out_argument, save_report

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "tests" / "data" / "male_image_with_mask.jpg"


@contextlib.contextmanager
def running_server(*options: str, timeout: float = 120, log: Path | None = None) -> Iterator[str]:
    """`python -m edge_runtime serve` on a free loopback port; yields its URL, then stops it.
    Its output (start-up line, access log) goes to `log`, or to a temporary file."""
    import tempfile

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "edge_runtime", "serve", "--port", str(port), *options]
    with tempfile.TemporaryDirectory() as scratch:
        log = log or Path(scratch) / "serve.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.time() > deadline:
                        raise RuntimeError(f"no answer from {url}/health in {timeout} s") from None
                    time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def load(url: str, photo: bytes, clients: int, requests: int) -> dict:
    """`requests` POSTs of `photo` from `clients` threads: throughput and latency."""
    import httpx

    def one(_: int) -> tuple[int, float]:
        started = time.perf_counter()
        status = httpx.post(f"{url}/v1/predict", content=photo, timeout=300).status_code
        return status, 1000 * (time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - started
    ok = np.array([ms for status, ms in answers if status == 200])
    return {
        "clients": clients,
        "requests": requests,
        "ok": len(ok),
        "busy_503": sum(status == 503 for status, _ in answers),
        "other": sum(status not in (200, 503) for status, _ in answers),
        "requests_per_s": len(ok) / wall,
        **{f"p{q}_ms": float(np.percentile(ok, q)) for q in (50, 90, 99)},
    }


def to_markdown(rows: list[dict], photo: str) -> str:
    lines = [
        f"`POST /v1/predict` of {photo}, default service (`--workers 1 --queue 8` unless "
        "said), loopback, 2-core VM.\n",
        "| clients | requests | ok | 503 | requests/s | p50 ms | p90 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['clients']} | {r['requests']} | {r['ok']} | {r['busy_503']} "
            f"| {r['requests_per_s']:.1f} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} "
            f"| {r['p99_ms']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_load", description=__doc__)
    parser.add_argument("--photo", type=Path, default=PHOTO)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--requests", type=int, default=200, help="per concurrency (200)")
    add_out_argument(parser, default=Path("benchmarks/results/serve_load"))
    parser.add_argument("serve_options", nargs="*", help="passed to serve, after --")
    args = parser.parse_args(argv)

    photo = args.photo.read_bytes()
    rows = []
    with running_server(*args.serve_options) as url:
        load(url, photo, 1, 10)  # warm-up: sessions built, caches filled
        for clients in args.clients:
            rows.append(load(url, photo, clients, args.requests))
            print(json.dumps(rows[-1]), flush=True)
    markdown = to_markdown(rows, args.photo.name)
    save_report(
        args.out,
        {"photo": str(args.photo), "serve_options": args.serve_options, "rows": rows},
        markdown,
    )
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
