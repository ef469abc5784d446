#!/usr/bin/env bash
# Catalog test runner hook: the Tasks this Pipeline references, the ServiceAccounts and RBAC
# (rewritten into the runner's namespace), and the repository/commit under test.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
catalog="$(cd "$here/../../../.." && pwd)"
ns="${tns:?tns is set by the catalog test runner}"
for task in glm-tts-build-image glm-tts-gpu-preflight glm-tts-cuda-check glm-tts-helm-deploy glm-tts-verify; do
  kubectl -n "$ns" apply -f "$catalog/task/$task/0.1.0/$task.yaml"
done
kubectl create namespace glm-tts --dry-run=client -o yaml | kubectl apply -f -
for rbac in "$catalog/pipeline/glm-tts-cicd/0.1.0/rbac/glm-tts-ci.yaml" \
  "$catalog/task/glm-tts-gpu-preflight/0.1.0/rbac/glm-tts-checker.yaml" \
  "$catalog/task/glm-tts-helm-deploy/0.1.0/rbac/glm-tts-deployer.yaml"; do
  sed "s/namespace: glm-tts-ci/namespace: $ns/" "$rbac" | kubectl apply -f -
done
if [[ -n "${GLM_TTS_GIT_URL:-}" ]]; then
  sed -i -e "s|https://github.com/glm-tts/glm-tts-k8s.git|$GLM_TTS_GIT_URL|" \
    -e "s|value: main|value: ${GLM_TTS_GIT_REVISION:-main}|" "${TMPF:?}"
fi
