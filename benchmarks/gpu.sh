#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md (section 5, On a GPU) in one command, on a machine with CUDA:
#
#     bash benchmarks/gpu.sh [OUT_DIR]        # default gpu-results/; about 5 minutes on an H200
#
# In turn: the CUDA-graph tests, the notebook-001 epoch with the data on the GPU
# (benchmarks/notebook001.py --device cuda), where a graphed step's time goes
# (benchmarks/investigations/gpu_step_parts.py), train.compile against eager under the graphs
# (benchmarks/torch_compile.py), `redes bench --json` (its CPU/GPU rows by batch size), the
# CPU-against-GPU sweep (cpu_gpu), then the whole test suite, where
# train.device=auto means CUDA. Each step's output goes to OUT_DIR/<step>.log (9 files in all) and
# the end of it to the terminal; a failing step does not stop the next. PYTHON picks the interpreter
# (default python3; the package's dependencies must be importable, redes itself is taken from src/);
# SUITE_SECONDS limits the last step, the whole suite (default 240), and PYTEST_WORKERS spreads it over processes.
set -u
out=${1:-gpu-results}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg

step() {  # step NAME SECONDS COMMAND...: run COMMAND with a time limit, its output in OUT_DIR/NAME.log
    local name=$1 limit=$2
    shift 2
    echo "== $name"
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    echo "rc=$? seconds=$SECONDS" | tee -a "$out/$name.log"
    tail -n "${TAIL:-12}" "$out/$name.log" | cut -c1-400
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
  "$py" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__,
  torch.cuda.get_device_name(), torch.get_num_threads(), 'threads')"; nproc; } >"$out/machine.txt" 2>&1
cat "$out/machine.txt"
step cuda_graph_tests 180 "$py" -m pytest -q -p no:cacheprovider tests/test_cuda_graph.py
step notebook001_cuda 240 "$py" benchmarks/notebook001.py --device cuda
TAIL=45 step step_parts 150 "$py" benchmarks/investigations/gpu_step_parts.py
step compile 150 "$py" benchmarks/torch_compile.py --device cuda --images 50000
TAIL=3 step bench 240 "$py" -m redes bench --json
sweep=$(mktemp -d)
TAIL=14 step sweep 240 "$py" -m redes sweep cpu_gpu --out "$sweep/cpu_gpu"
tar czf "$out/cpu_gpu_sweep.tgz" -C "$sweep/cpu_gpu" results.csv plots 2>/dev/null
TAIL=25 step suite "${SUITE_SECONDS:-240}" "$py" -m pytest -q -p no:cacheprovider --maxfail=20 \
    ${PYTEST_WORKERS:+-n "$PYTEST_WORKERS"}
