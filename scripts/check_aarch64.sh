#!/usr/bin/env bash
# The runtime on a 64-bit Arm Debian (bookworm arm64, what Raspberry Pi OS 64-bit is built
# on) under qemu-user-static: install it with the deployment docs' pip command, run
# `python -m edge_runtime --json` on the seed photos and a few scenes_voc photos, and
# compare with the same run on this machine (same faces and boxes, detector confidences
# within 1e-3, classifier probabilities within 1e-2, labels equal away from thresholds). Needs root (debootstrap, chroot, binfmt_misc) and a Debian-like host.
#
#   sudo scripts/check_aarch64.sh            # root cached in ~/.cache/edge_runtime/arm64
#
# Timings under emulation say nothing about a real Pi: on a Pi, measure with
# `.venv/bin/python -m edge_runtime --benchmark` (docs/deploy.md).
# Env: EDGE_ARM64_CACHE (cache folder), EDGE_ARM64_VOC (number of scenes_voc photos, 4),
# DEBIAN_MIRROR (default: this host's apt source),
# EDGE_SHARED (default ../shared), HOST_PYTHON (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CACHE=${EDGE_ARM64_CACHE:-$HOME/.cache/edge_runtime/arm64}
ROOT=$CACHE/bookworm-arm64
OUT=$CACHE/out
SHARED=${EDGE_SHARED:-$REPO/../shared}
HOST_PYTHON=${HOST_PYTHON:-$REPO/.venv/bin/python}
VOC_PHOTOS=(maksssksksss0.jpg maksssksksss1.jpg maksssksksss100.jpg maksssksksss101.jpg)
# EDGE_ARM64_VOC=N: the first N scenes_voc photos (by name) instead, for a wider comparison.
if [[ -n ${EDGE_ARM64_VOC:-} ]]; then
    mapfile -t VOC_PHOTOS < <(ls "$SHARED/data/scenes_voc/images" | sort | head -n "$EDGE_ARM64_VOC")
fi

step() { printf '\n== %s\n' "$*"; }

[[ $(id -u) == 0 ]] || { echo "check_aarch64: needs root (debootstrap, chroot)" >&2; exit 2; }
[[ -x $HOST_PYTHON ]] || { echo "check_aarch64: no $HOST_PYTHON; install the project first" >&2; exit 2; }

step "host tools: debootstrap, qemu-user-static, binfmt_misc"
if ! command -v debootstrap >/dev/null || [[ ! -e /usr/bin/qemu-aarch64-static ]]; then
    apt-get update -qq
    apt-get install -y -qq debootstrap qemu-user-static binfmt-support >/dev/null
fi
mirror=${DEBIAN_MIRROR:-$(grep -rhoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list* \
    | awk '{print $2}' | grep -E '/debian/?$' | head -1)}
# onnxruntime >= 1.31 crashes at import (SIGSEGV) under bookworm's qemu 7.2 (1.24 does
# not); qemu 10 from bookworm-backports runs it.
if (( $(qemu-aarch64-static --version | grep -oE 'version [0-9]+' | grep -oE '[0-9]+') < 8 )); then
    echo "deb $mirror bookworm-backports main" > /etc/apt/sources.list.d/edge-backports.list
    apt-get update -qq
    apt-get install -y -qq -t bookworm-backports qemu-user-static >/dev/null
fi
qemu-aarch64-static --version | head -1
[[ -e /proc/sys/fs/binfmt_misc/register ]] \
    || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
# Register again so the kernel holds the interpreter installed now (binfmt flag F).
update-binfmts --disable qemu-aarch64 2>/dev/null || true
update-binfmts --enable qemu-aarch64

if [[ ! -e $ROOT/.complete ]]; then
    step "debootstrap bookworm arm64 into $ROOT"
    rm -rf "$ROOT" && mkdir -p "$ROOT"
    debootstrap --arch=arm64 --foreign --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$ROOT" "$mirror"
    chroot "$ROOT" /debootstrap/debootstrap --second-stage
    touch "$ROOT/.complete"
fi
chroot "$ROOT" uname -m

mounts=()
cleanup() { for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done; }
trap cleanup EXIT
for fs in proc dev sys; do
    mountpoint -q "$ROOT/$fs" || { mount --rbind "/$fs" "$ROOT/$fs"; mounts+=("$ROOT/$fs"); }
done
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca.crt"

step "copy the project (git's files, as a clone has them) and the photos"
rm -rf "$ROOT/opt/edge" "$OUT"
mkdir -p "$ROOT/opt/edge/src" "$ROOT/opt/edge/photos" "$OUT"
git ls-files -z --cached --others --exclude-standard \
    | tar --null -T - -cf - | tar -xf - -C "$ROOT/opt/edge/src"
cp tests/data/{female,male}_image_with{,out}_mask.jpg "$ROOT/opt/edge/photos/"
for p in "${VOC_PHOTOS[@]}"; do cp "$SHARED/data/scenes_voc/images/$p" "$ROOT/opt/edge/photos/"; done

step "pip install on arm64, as docs/deploy.md says (no compiler in this root)"
in_root() { chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin \
    PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 bash -c "$1"; }
in_root 'command -v gcc cc || echo "no C compiler"'
in_root 'cd /opt/edge/src && python3 -m venv .venv && .venv/bin/pip install -q -e . \
    && .venv/bin/pip list 2>/dev/null | grep -iE "onnxruntime|opencv|numpy|pillow|tensorflow" \
    && .venv/bin/python -c "import platform, onnxruntime as o; \
print(platform.machine(), \"onnxruntime\", o.__version__, o.get_available_providers())"'
in_root '/opt/edge/src/.venv/bin/python -c "import tensorflow"' 2>/dev/null \
    && { echo "check_aarch64: tensorflow is installed in the arm64 runtime" >&2; exit 1; } \
    || echo "tensorflow: not installed (as intended)"

step "run on arm64 (emulated: the timings mean nothing) and on this host"
in_root 'cd /opt/edge/src && time .venv/bin/python -m edge_runtime --json /opt/edge/photos' \
    > "$OUT/arm64.jsonl"
# The same copy of the code on both sides: run from its folder, so it is imported first.
(cd "$ROOT/opt/edge/src" && "$HOST_PYTHON" -m edge_runtime --json "$ROOT/opt/edge/photos") \
    > "$OUT/x86_64.jsonl"

step "compare"
# Detector (float32): 1e-3. Classifiers: 1e-2, what the shipped models are held to. The
# int8 models shipped until 2026-11-26 differed by up to 0.078 (4 of 135 faces over 1e-2,
# all the unmasked-gender model), which this check then allowed with a 1e-1 bound; the
# models shipped since (int8 mask and unmasked gender, float16-weight masked gender) gave
# all 135 faces' probabilities equal to 4 decimals on 44 photos, twice (2026-11-26 and
# 2026-11-30). ONNX Runtime's int8 kernels requantize with other rounding on Arm, so a
# new int8 model can differ again: this check is the gate that says so. A label may
# differ only for a face whose probabilities are within the tolerance of its threshold.
"$HOST_PYTHON" scripts/compare_runs.py "$OUT/x86_64.jsonl" "$OUT/arm64.jsonl" \
    --tolerance 1e-3 --classifier-tolerance 1e-2
