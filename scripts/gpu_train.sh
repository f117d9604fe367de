#!/usr/bin/env bash
# On the GPU machine (docs/training.md, "One GPU lease"): check and unpack the parts
# that scripts/gpu_bundle.sh wrote, install its wheels, fine-tune every task in it from its
# shipped weights at once (one process each, sharing the GPU), and put the first task's run
# that trained in $OUT, with every task's log. The other runs wait on the machine for the
# next calls, one run each (a call brings back at most 64 MiB, a run's weights are 41 MB).
#
#   bash scripts/gpu_train.sh gpu              # unpack, train; brings back one run
#   bash scripts/gpu_train.sh gpu fetch TASK   # a next call: brings back TASK's run
#
# GPU_MINUTES (5): each run stops after the epoch that passes it; GPU_FIT_ARGS: more flags
# for every fit (later flags win); PYTHON (python3); KERAS_BACKEND (jax).
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: $0 FOLDER [fetch TASK]"
if [ $# -ne 1 ] && { [ $# -ne 3 ] || [ "$2" != fetch ]; }; then
    echo "$usage" >&2
    exit 2
fi
folder=$(cd "$1" && pwd)
python=${PYTHON:-python3}
: "${OUT:?OUT must name the folder to bring back}"

recipe() {  # each task's schedule from its shipped weights: a second cosine cycle
    case $1 in
        gender_masked) echo --epochs 20 --batch-size 64 --lr 0.0002 --real-repeat 4 \
            --class-weight per_source ;;
        mask) echo --epochs 10 --batch-size 128 --lr 0.0005 --grayscale 0.2 --edge-fill 0.3 ;;
        *) echo --epochs 10 --batch-size 128 --lr 0.0005 ;;
    esac
}

collect() {  # what `train calibrate` needs of a run (it rebuilds model.keras), in $OUT/TASK
    local run=$folder/runs/$1
    if ! compgen -G "$run/weights16.npz.part*" > /dev/null; then
        echo "error: $1 has no trained run in $folder/runs" >&2
        exit 1
    fi
    mkdir -p "$OUT/$1"
    cp "$run"/weights16.npz.part* "$OUT/$1/"
    tar -C "$run" -czf "$OUT/$1/run.tar.gz" --exclude '*.keras' --exclude 'weights16*' \
        --exclude backup .
    echo "$1: $(ls "$OUT/$1" | tr '\n' ' ')"
}

if [ $# -eq 3 ]; then
    collect "$3"
    exit
fi

# A second call unpacks and installs what it brings afresh (runs/ stays as it is).
(cd "$folder" && sha256sum --check --quiet SHA256SUMS && rm -rf bundle site \
    && cat part* | tar -xf -)
if [ -d "$folder/bundle/wheels" ]; then
    "$python" -m pip install --quiet --no-index --no-deps --no-compile --target "$folder/site" \
        "$folder"/bundle/wheels/*.whl
    export PYTHONPATH=$folder/site${PYTHONPATH:+:$PYTHONPATH}
fi
export KERAS_BACKEND=${KERAS_BACKEND:-jax} XLA_PYTHON_CLIENT_MEM_FRACTION=0.3 PYTHONUNBUFFERED=1
read -r -a tasks < "$folder/bundle/tasks"
pids=()
for task in "${tasks[@]}"; do  # logs straight into $OUT: they come back even from a cut call
    # shellcheck disable=SC2046,SC2086  # the recipe's and GPU_FIT_ARGS's words are flags
    "$python" -m train fit --task "$task" --data "$folder/bundle/$task.npz" \
        --init-from "$folder/bundle/$task.onnx" --out "$folder/runs/$task" --schedule cosine \
        --warmup-epochs 0.5 --patience 30 --half-parts --time-limit "${GPU_MINUTES:-5}" \
        $(recipe "$task") ${GPU_FIT_ARGS:-} > "$OUT/$task.log" 2>&1 &
    pids+=($!)
done
trained=()
for i in "${!tasks[@]}"; do
    if wait "${pids[$i]}"; then
        trained+=("${tasks[$i]}")
        echo "${tasks[$i]}: trained"
    else
        echo "${tasks[$i]}: failed"
    fi
    grep -E "val_accuracy|started from|Error|^error:" "$OUT/${tasks[$i]}.log" | tail -n 4 || true
done
[ ${#trained[@]} -gt 0 ] || exit 1
collect "${trained[0]}"
for task in "${trained[@]:1}"; do
    echo "next call: bash scripts/gpu_train.sh $1 fetch $task"
done
[ ${#trained[@]} -eq ${#tasks[@]} ]
