#!/usr/bin/env bash
# `dabench bench` on a CUDA machine, as one prepared run: every method at its defaults plus CDLM at the paper's
# width (`cdlm:full`, c = 64, d_z = 512), written to leaderboard/performance-cuda.md (the CPU report,
# leaderboard/performance.md, stays as it is). The output is named explicitly: without -o, `dabench bench`
# writes runs/bench/performance.md (git-ignored), never a committed report.
#
#   DABENCH_DATA=/path/to/data-root scripts/gpu-bench.sh [REPEATS]
#
# Needs an installed dabench (pip install .) whose torch sees the GPU, and the data root of the CPU runs
# (`dabench data verify` checks it). Not yet run: no GPU has been lent to this project.
set -euo pipefail
repeats=${1:-5}
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu-bench: torch sees no CUDA device')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
dabench bench --device cuda --task mnist-mnistm --steps 30 --repeats "$repeats" \
  --methods source-only target-only dann cdan cdan-e pixelda-lite unit-lite cdlm cdlm:full \
  -o leaderboard/performance-cuda.md
