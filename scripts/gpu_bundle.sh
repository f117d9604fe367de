#!/usr/bin/env bash
# Before a GPU lease (docs/training.md, "One GPU lease"): pack each task's prepared train and
# val crops with its shipped model as the starting weights, and the Keras wheels the GPU
# machine lacks, into parts small enough to carry one per call, with their sha256 sums.
#
#   bash scripts/gpu_bundle.sh gpu gender_unmasked=work/data/gu_x gender_masked=work/data/gm
#
# GPU_WHEELS=0 leaves the wheels out (a machine that has Keras, or a test here);
# GPU_PART_SIZE (bytes, or split's 1M) overrides the part size worked out below.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
[ $# -ge 2 ] || { echo "usage: $0 OUT TASK=PREPARED_FOLDER ..." >&2; exit 2; }
out=$1
shift
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
    echo "error: $out is not empty" >&2
    exit 2
fi
bundle=$(mktemp -d)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$out" "$bundle/bundle"

tasks=()
for pair in "$@"; do
    task=${pair%%=*}
    data=${pair#*=}
    [ -f "models/$task.onnx" ] || { echo "error: no models/$task.onnx to start from" >&2; exit 2; }
    [ -f "$data/prepare.json" ] || { echo "error: $data: not a prepared folder" >&2; exit 2; }
    prepared_for=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["task"])' \
        "$data/prepare.json")
    [ "$prepared_for" = "$task" ] || {
        echo "error: $data was prepared for $prepared_for, not $task" >&2
        exit 2
    }
    "$python" -m train pack --data "$data" --out "$bundle/bundle/$task.npz" --splits train val \
        --quality 92 >/dev/null
    cp "models/$task.onnx" "$bundle/bundle/$task.onnx"
    tasks+=("$task")
done
echo "${tasks[*]}" > "$bundle/bundle/tasks"
if [ "${GPU_WHEELS:-1}" != 0 ]; then  # Keras and what it needs beyond the machine's image
    pins=$("$python" -c 'from importlib.metadata import version as v
print(" ".join(f"{p}=={v(p)}" for p in ("keras", "namex", "optree")))')
    # shellcheck disable=SC2086  # three pins
    "$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$bundle/bundle/wheels" $pins
fi

# A call carries 64 MiB with the tree: tracked files but the top-level models/*.onnx (set
# aside for the lease; they travel inside the bundle) and untracked files not ignored.
tree=$( (git ls-files; git ls-files --others --exclude-standard) | grep -v '^models/[^/]*\.onnx$' \
    | tr '\n' '\0' | du -cb --files0-from=- | tail -n 1 | cut -f1)
part_size=${GPU_PART_SIZE:-$((64 * 1024 * 1024 - tree - 2 * 1024 * 1024))}
tar -C "$bundle" -cf - bundle | split -b "$part_size" -d - "$out/part"
(cd "$out" && sha256sum part* > SHA256SUMS)
echo "tasks: ${tasks[*]}; tree $((tree / 1024 / 1024)) MiB, one part per call:"
for part in "$out"/part*; do
    echo "  $part $(du -m "$part" | cut -f1) MiB"
done
