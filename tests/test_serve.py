"""The HTTP service against a real server on a loopback port (started here, stopped after):
good images, every bad input, 20 requests at once, a full queue, the camera feed, and the
page in a real browser (Debian's headless Chromium through Selenium)."""

from __future__ import annotations

import io
import json
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from benchmarks.serve_load import running_server
from tests.conftest import ROOT, TEST_DATA

httpx = pytest.importorskip("httpx", reason="the service tests need the dev extra (httpx)")
pytest.importorskip("fastapi", reason="the service needs the serve extra: pip install .[serve]")

PHOTO = TEST_DATA / "female_image_with_mask.jpg"


@pytest.fixture(scope="module")
def server_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve") / "serve.log"


@pytest.fixture(scope="module")
def server(server_log: Path) -> Iterator[str]:
    options = ("--queue", "32", "--max-body-mb", "2", "--max-pixels", "4000000")
    with running_server(*options, log=server_log) as url:
        yield url


def test_start_up_line_and_access_log(server: str, server_log: Path):
    httpx.get(f"{server}/health")
    lines = server_log.read_text().splitlines()
    port = server.rsplit(":", 1)[1]
    assert (
        lines[0].startswith("edge_runtime ") and f"serving on http://127.0.0.1:{port}/" in lines[0]
    )
    assert any(line.startswith('127.0.0.1 "GET /health" 200 ') for line in lines), lines
    assert "Traceback" not in server_log.read_text()


def assert_error(response, status: int, words: str) -> None:
    """A 4xx/503 with a one-line JSON error that says `words`."""
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert "\n" not in message and words in message, message


def test_upload_and_raw_body_give_the_clis_answer(server: str):
    from edge_runtime import Pipeline

    expected = Pipeline()(PHOTO).to_dict()["faces"]
    upload = httpx.post(
        f"{server}/v1/predict", files={"file": (PHOTO.name, PHOTO.read_bytes(), "image/jpeg")}
    )
    raw = httpx.post(
        f"{server}/v1/predict",
        content=PHOTO.read_bytes(),
        headers={"content-type": "image/jpeg"},
    )
    for response in (upload, raw):
        assert response.status_code == 200, response.text
        assert response.json()["faces"] == expected
    assert upload.json()["path"] == PHOTO.name and expected[0]["mask"] is True


def test_annotated_photo_comes_back_as_a_jpeg(server: str):
    import base64

    from PIL import Image

    response = httpx.post(f"{server}/v1/predict?annotated=true", content=PHOTO.read_bytes())
    picture = Image.open(io.BytesIO(base64.b64decode(response.json()["annotated_jpeg"])))
    assert picture.format == "JPEG" and picture.size == (260, 260)


def test_bad_inputs_get_a_one_line_4xx(server: str):
    from PIL import Image

    def post(body: bytes, **kwargs):
        return httpx.post(f"{server}/v1/predict", content=body, **kwargs)

    assert_error(post(b""), 400, "empty body")
    assert_error(post(b"hello, not a photo"), 400, "not an image")
    assert_error(post(PHOTO.read_bytes()[:3000]), 400, "cannot decode")
    big = io.BytesIO()
    Image.new("L", (3000, 2000)).save(big, "PNG")  # 6 MP in a few KB: refused by its header
    assert_error(post(big.getvalue()), 413, "image too large")
    assert_error(post(b"\xff" * (3 * 2**20)), 413, "over the limit")
    refused = httpx.post(f"{server}/v1/predict?face_threshold=0.9", content=PHOTO.read_bytes())
    assert_error(refused, 422, "unknown query parameter face_threshold")
    fixed = httpx.post(f"{server}/v1/predict?detector=mtcnn", content=PHOTO.read_bytes())
    assert_error(fixed, 422, "detector: set when the pipeline is built")
    assert_error(httpx.post(f"{server}/v1/predict?threshold=high", content=b"x"), 422, "float")
    assert_error(httpx.post(f"{server}/v1/predict?threshold=2", content=b"x"), 422, "0..1")
    assert_error(httpx.post(f"{server}/v1/predict?max_side=0", content=b"x"), 422, "at most")
    assert_error(httpx.post(f"{server}/v1/predict?min_face=0.001", content=b"x"), 422, "at least")
    form = httpx.post(f"{server}/v1/predict", files={"other": ("a.jpg", b"x", "image/jpeg")})
    assert_error(form, 400, "without a `file` field")
    maybe = "annotated: cannot read 'maybe' as true or false"
    assert_error(httpx.post(f"{server}/v1/predict?annotated=maybe", content=b"x"), 422, maybe)
    assert_error(httpx.get(f"{server}/v1/stream"), 404, "no camera")


def test_options_per_request_change_that_request_only(server: str):
    from edge_runtime import Pipeline

    photo = PHOTO.read_bytes()  # one face of about 200 px in 260 px: none of 1000 px
    large_only = httpx.post(f"{server}/v1/predict?min_face=1000", content=photo).json()
    assert large_only["faces"] == Pipeline().run(PHOTO, min_face=1000).to_dict()["faces"] == []
    plain = httpx.post(f"{server}/v1/predict", content=photo).json()
    assert len(plain["faces"]) == 1 and plain["faces"][0]["mask"] is True
    faces_only = httpx.post(f"{server}/v1/predict?faces_only=true", content=photo).json()
    assert faces_only["faces"][0]["box"] == plain["faces"][0]["box"]
    assert faces_only["faces"][0]["mask"] is None
    once = httpx.post(f"{server}/v1/predict?no_flip=true", content=photo).json()["faces"]
    assert once == Pipeline().run(PHOTO, no_flip=True).to_dict()["faces"] != plain["faces"]


def test_twenty_requests_at_once_are_each_answered_right(server: str):
    photos = sorted(TEST_DATA.glob("*_image_*_mask.jpg"))
    solo = {
        p.name: httpx.post(f"{server}/v1/predict", content=p.read_bytes()).json() for p in photos
    }

    def ask(k: int) -> tuple[str, int, dict]:
        photo = photos[k % len(photos)]
        r = httpx.post(f"{server}/v1/predict", content=photo.read_bytes(), timeout=120)
        return photo.name, r.status_code, r.json()

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(ask, range(20)))
    assert all(status == 200 for _, status, _ in answers)
    assert all(body["faces"] == solo[name]["faces"] for name, _, body in answers)


def test_models_health_and_openapi(server: str):
    from edge_runtime.manifest import read_manifest

    manifest = read_manifest(ROOT / "models")
    models = httpx.get(f"{server}/v1/models").json()
    # One item per ONNX file: a classifier by its name, a detector's networks as
    # <detector>_<network>, each with the threshold it is used at.
    assert {m["name"]: m["sha256"] for m in models} == {
        name if len(entry.files) == 1 else f"{name}_{net}": model.sha256
        for name, entry in manifest.models.items()
        for net, model in zip(("pnet", "rnet", "onet"), entry.files, strict=False)
    }
    mask = next(m for m in models if m["name"] == "mask")
    assert mask["input_shape"][1:3] == [64, 64] and mask["version"] == mask["sha256"][:12]
    assert mask["class_names"] == ["WithMask", "WithoutMask"] and mask["kind"] == "classifier"
    onet = next(m for m in models if m["name"] == "finetuned_onet")
    assert onet["detector"] == "finetuned" and onet["input_shape"] == [None, 3, 48, 48]
    assert onet["threshold"] == manifest.detector("finetuned").thresholds[2]
    health = httpx.get(f"{server}/health").json()
    assert health["status"] == "ok" and health["served"] >= 0
    assert health["options"]["max_pixels"] == 4_000_000 and health["options"]["min_face"] == 20
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert "/v1/predict" in paths and "multipart/form-data" in json.dumps(paths["/v1/predict"])
    parameters = {p["name"] for p in paths["/v1/predict"]["post"]["parameters"]}
    assert parameters == {"annotated", "min_face", "max_side", "threshold", "faces_only", "no_flip"}


def test_a_full_queue_answers_503_not_a_backlog():
    photo = (TEST_DATA / "male_image_without_mask.jpg").read_bytes()
    with running_server("--workers", "1", "--queue", "1") as url:
        predict = f"{url}/v1/predict"
        with ThreadPoolExecutor(12) as pool:
            responses = list(
                pool.map(lambda _: httpx.post(predict, content=photo, timeout=120), range(12))
            )
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) == {200, 503} and statuses.count(200) >= 2, statuses
        busy = next(r for r in responses if r.status_code == 503)
        assert_error(busy, 503, "busy")
        assert busy.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--workers", "0"], "argument --workers: 0 is not at least 1"),
        (["--port", "99999"], "argument --port: 99999 is not between 0 and 65535"),
        (["--source", "/nonexistent.mp4"], "error: /nonexistent.mp4: cannot open video"),
    ],
)
def test_a_service_that_could_not_work_does_not_start(flags: list[str], words: str, capsys):
    """Each refused in one line, exit 2, before a start-up line promises a service."""
    from edge_runtime.serve import main

    try:
        code = main(["--port", "0", *flags])
    except SystemExit as exc:  # argparse's usage error
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and words in err and "serving on" not in err


def test_a_service_config_without_a_worker_is_refused_naming_the_field():
    from edge_runtime.serve import ServeConfig

    with pytest.raises(ValueError, match=r"^workers must be at least 1, not 0$"):
        ServeConfig(workers=0)
    with pytest.raises(ValueError, match=r"^queue must be at least 0, not -1; max_body"):
        ServeConfig(queue=-1, max_body=0)


@pytest.mark.slow
def test_camera_source_streams_mjpeg_and_counts_people(tmp_path: Path):
    from tests.test_tracking import two_person_video

    video = tmp_path / "walk.mp4"
    two_person_video(video)
    with running_server("--source", str(video)) as url:
        deadline = time.time() + 60
        while not (counts := httpx.get(f"{url}/v1/counts").json())["done"]:
            assert time.time() < deadline, counts
            time.sleep(0.5)
        assert (counts["people"], counts["with_mask"], counts["without_mask"]) == (2, 1, 1)
        with httpx.stream("GET", f"{url}/v1/stream", timeout=30) as stream:
            assert stream.headers["content-type"].startswith("multipart/x-mixed-replace")
            head = next(stream.iter_bytes())
        assert b"Content-Type: image/jpeg" in head and b"\xff\xd8" in head


def chromium_driver():
    """Debian's chromium and chromedriver, headless; skips with a reason where absent."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (dev extra)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1000,900",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(driver))


@pytest.mark.slow
def test_page_in_a_real_browser_shows_the_annotated_photo_and_faces(server: str, tmp_path: Path):
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    browser = chromium_driver()
    try:
        browser.get(server + "/")
        browser.find_element(By.ID, "file").send_keys(str(PHOTO))
        browser.find_element(By.ID, "send").click()
        WebDriverWait(browser, 60).until(seen.visibility_of_element_located((By.ID, "faces")))
        rows = browser.find_elements(By.CSS_SELECTOR, "#faces tbody tr")
        cells = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]
        picture = browser.find_element(By.ID, "annotated")
        natural = browser.execute_script("return arguments[0].naturalWidth", picture)
        shown = picture.size["width"]
        shot = tmp_path / "page.png"
        browser.save_screenshot(str(shot))
        status = browser.find_element(By.ID, "status").text
    finally:
        browser.quit()
    assert (
        len(rows) == 1
        and cells[3].startswith("mask ")
        and cells[4].split()[0] in {"Female", "Male"}
    )
    assert natural == 260 and shown > 2 * natural  # a small photo is scaled up to the page
    assert status.startswith("1 face(s) (1 with a mask, 0 without; ") and "in 260x260" in status
    assert np.asarray(Image.open(shot)).std() > 10  # something was drawn
