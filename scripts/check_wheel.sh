#!/usr/bin/env bash
# The package as a user gets it: build the wheel, install it alone (runtime dependencies
# only, no TensorFlow) in a fresh venv outside the checkout, and run the CLI on a photo and
# --benchmark, with the models and sample photos the wheel carries; then the serve extra
# on top, the service started from the wheel and asked for its page and one photo.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m pip wheel --quiet --no-deps -w "$work/dist" .
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$work"/dist/*.whl
cd "$work"  # away from the checkout, so nothing is imported or read from it
if "$work/venv/bin/python" -c "import tensorflow" 2>/dev/null; then
    echo "check_wheel: tensorflow is installed with the runtime" >&2
    exit 1
fi
# The runtime alone: the console command and its version; no training or export packages.
"$work/venv/bin/edge-runtime" --version
for name in train export benchmarks; do
    if "$work/venv/bin/python" -c "import $name" 2>/dev/null; then
        echo "check_wheel: the wheel installs '$name'" >&2
        exit 1
    fi
done
"$work/venv/bin/edge-runtime" "$root/tests/data/male_image_with_mask.jpg" --json \
    | "$work/venv/bin/python" -c '
import json, sys
result = json.loads(sys.stdin.read())
assert len(result["faces"]) == 1 and result["faces"][0]["mask"] is True, result
print("wheel: photo ok:", result["faces"][0]["gender"], result["faces"][0]["p_gender"])
'
"$work/venv/bin/python" -m edge_runtime --benchmark --runs 1 | tail -n 3

# Without the scale extra, a batch job says what to install, in one line, with exit 2.
set +e
message=$("$work/venv/bin/python" -m edge_runtime batch "$root/tests/data" --out "$work/b" 2>&1)
status=$?
set -e
[ "$status" -eq 2 ] && [ "$(echo "$message" | wc -l)" -eq 1 ] && echo "$message" | grep -q "scale"
echo "wheel: batch without pyarrow: $message"

wheel=$(ls "$work"/dist/*.whl)
"$work/venv/bin/pip" install --quiet "${wheel}[serve]"
port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$work/venv/bin/python" -m edge_runtime serve --port "$port" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.5
done
curl -sf "http://127.0.0.1:$port/" | grep -q "<form id=\"upload\">"
curl -sf --data-binary @"$root/tests/data/male_image_with_mask.jpg" \
    "http://127.0.0.1:$port/v1/predict" | "$work/venv/bin/python" -c '
import json, sys
result = json.loads(sys.stdin.read())
assert len(result["faces"]) == 1 and result["faces"][0]["mask"] is True, result
print("wheel: service ok: page served, photo answered")
'
echo "wheel: ok ($(du -h "$work"/dist/*.whl | cut -f1))"
