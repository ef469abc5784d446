#!/usr/bin/env bash
# Catalog test runner hook: this Task needs a GPU node; say so plainly instead of leaving the
# TaskRun Pending forever on a GPU-less test cluster.
set -euo pipefail
gpus=$(kubectl get nodes -o jsonpath='{range .items[*]}{.status.allocatable.nvidia\.com/gpu}{"\n"}{end}' | grep -c '[1-9]' || true)
if [[ "$gpus" -eq 0 ]]; then
  echo "glm-tts-cuda-check: no node advertises nvidia.com/gpu; run this test on a GPU cluster" >&2
  exit 1
fi
