#!/usr/bin/env bash
# Catalog test runner hook: a running GLM-TTS with the CPU profile (espeak backend) to synthesise against.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../../.." && pwd)"
kubectl create namespace glm-tts --dry-run=client -o yaml | kubectl apply -f -
helm upgrade --install glm-tts "$repo/charts/glm-tts" --namespace glm-tts \
  --values "$repo/charts/glm-tts/ci/cpu-values.yaml" --wait --timeout 10m
