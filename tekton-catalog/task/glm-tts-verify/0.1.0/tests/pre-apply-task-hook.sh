#!/usr/bin/env bash
# Catalog test runner hook: a running GLM-TTS (CPU profile) to verify, and the checker RBAC.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../../.." && pwd)"
ns="${tns:?tns is set by the catalog test runner}"
kubectl create namespace glm-tts --dry-run=client -o yaml | kubectl apply -f -
helm upgrade --install glm-tts "$repo/charts/glm-tts" --namespace glm-tts \
  --values "$repo/charts/glm-tts/ci/cpu-values.yaml" --wait --timeout 10m
sed "s/namespace: glm-tts-ci/namespace: $ns/" \
  "$repo/tekton-catalog/task/glm-tts-gpu-preflight/0.1.0/rbac/glm-tts-checker.yaml" | kubectl apply -f -
