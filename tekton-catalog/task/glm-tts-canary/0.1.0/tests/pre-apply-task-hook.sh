#!/usr/bin/env bash
# Catalog test runner hook: the Gateway API CRDs, a stable release with its HTTPRoute on and a
# canary beside it (both CPU profile), the chart packaged into a ConfigMap the test unpacks, and the
# deployer's least-privilege RBAC.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../../.." && pwd)"
ns="${tns:?tns is set by the catalog test runner}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
helm package "$repo/charts/glm-tts" --destination "$work" >/dev/null
kubectl -n "$ns" create configmap glm-tts-chart --from-file=chart.tgz="$(ls "$work"/glm-tts-*.tgz)" \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl create namespace glm-tts --dry-run=client -o yaml | kubectl apply -f -
sed "s/namespace: glm-tts-ci/namespace: $ns/" \
  "$repo/tekton-catalog/task/glm-tts-helm-deploy/0.1.0/rbac/glm-tts-deployer.yaml" | kubectl apply -f -
kubectl apply --server-side -f \
  https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml
cpu="$repo/charts/glm-tts/ci/cpu-values.yaml"
helm upgrade --install glm-tts "$repo/charts/glm-tts" --namespace glm-tts --values "$cpu" \
  --set fullnameOverride=glm-tts --set httpRoute.enabled=true \
  --set 'httpRoute.parentRefs[0].name=gateway' --wait --timeout 10m
helm upgrade --install glm-tts-canary "$repo/charts/glm-tts" --namespace glm-tts --values "$cpu" \
  --values "$repo/charts/glm-tts/environments/values-canary.yaml" --set persistence.enabled=false \
  --set fullnameOverride=glm-tts-canary --wait --timeout 10m
