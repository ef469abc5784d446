#!/usr/bin/env bash
# Catalog test runner hook: the Tasks this Pipeline references, the ServiceAccounts and RBAC
# (rewritten into the runner's namespace), the Gateway API CRDs, a stable release with its
# HTTPRoute on, and the repository, commit and image digests under test.
# GLM_TTS_IMAGE_DIGEST / GLM_TTS_HOOKS_IMAGE_DIGEST: the digests of the images the CI pushed to
# the in-cluster registry (the same images glm-tts-cicd's test deploys).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
catalog="$(cd "$here/../../../.." && pwd)"
repo="$(cd "$catalog/.." && pwd)"
ns="${tns:?tns is set by the catalog test runner}"
: "${GLM_TTS_IMAGE_DIGEST:?the service image digest under test}"
: "${GLM_TTS_HOOKS_IMAGE_DIGEST:?the hooks image digest under test}"
for task in glm-tts-helm-deploy glm-tts-canary glm-tts-verify; do
  kubectl -n "$ns" apply -f "$catalog/task/$task/0.1.0/$task.yaml"
done
kubectl create namespace glm-tts --dry-run=client -o yaml | kubectl apply -f -
for rbac in "$catalog/pipeline/glm-tts-cicd/0.1.0/rbac/glm-tts-ci.yaml" \
  "$catalog/task/glm-tts-gpu-preflight/0.1.0/rbac/glm-tts-checker.yaml" \
  "$catalog/task/glm-tts-helm-deploy/0.1.0/rbac/glm-tts-deployer.yaml"; do
  sed "s/namespace: glm-tts-ci/namespace: $ns/" "$rbac" | kubectl apply -f -
done
kubectl apply --server-side -f \
  https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml
helm upgrade --install glm-tts "$repo/charts/glm-tts" --namespace glm-tts \
  --values "$repo/charts/glm-tts/ci/cpu-values.yaml" --set fullnameOverride=glm-tts \
  --set httpRoute.enabled=true --set 'httpRoute.parentRefs[0].name=gateway' --wait --timeout 10m
sed -i -e "s|https://github.com/glm-tts/glm-tts-k8s.git|${GLM_TTS_GIT_URL:-https://github.com/glm-tts/glm-tts-k8s.git}|" \
  -e "s|value: main|value: ${GLM_TTS_GIT_REVISION:-main}|" \
  -e "0,/sha256:0\{64\}/s//$GLM_TTS_IMAGE_DIGEST/" \
  -e "0,/sha256:0\{64\}/s//$GLM_TTS_HOOKS_IMAGE_DIGEST/" "${TMPF:?}"
