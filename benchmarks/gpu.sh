#!/usr/bin/env bash
# The GPU figures of benchmarks/RESULTS.md in one command, on a machine with an
# NVIDIA GPU, JAX and no TensorFlow, from the repository root:
#
#   bash benchmarks/gpu.sh OUTPUT_DIR
#
# Keras and its two pure-Python needs travel as wheels in .whl/ (see "GPU
# figures" in benchmarks/RESULTS.md for the download); they are installed
# into /tmp/site when present. The runs go from the most to the least
# wanted, so a run cut short still leaves the first figures. OUTPUT_DIR
# gets one JSON file per run and a single log.txt (8 files at most).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bash benchmarks/gpu.sh OUTPUT_DIR}
mkdir -p "$out"
log="$out/log.txt"

if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$PWD"
else
  export PYTHONPATH="$PWD"
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
} 2>&1 | tee "$log"

run() {
  local name=$1
  shift
  echo "== $name: $*" | tee -a "$log"
  python3 "$@" --json "$out/$name.json" 2>&1 | grep -v "^WARNING: All log messages" | tee -a "$log"
}

run steps_small_cnn benchmarks/step_overhead.py --backend jax --models small_cnn
run memory_small_cnn benchmarks/step_memory.py --models small_cnn --halves
run jpeg_throughput benchmarks/jpeg_throughput.py --backend jax
run eval_throughput benchmarks/eval_throughput.py --backend jax
run steps_resnet50 benchmarks/step_overhead.py --backend jax --models resnet50 --steps 10 --repeats 3
run memory_resnet50 benchmarks/step_memory.py --models resnet50
