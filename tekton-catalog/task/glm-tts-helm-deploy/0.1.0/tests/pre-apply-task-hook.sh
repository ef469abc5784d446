#!/usr/bin/env bash
# Catalog test runner hook: package this repository's chart into a ConfigMap the test unpacks,
# create the target namespace and the deployer's least-privilege RBAC.
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
sed "s/namespace: glm-tts-ci/namespace: $ns/" "$here/../rbac/glm-tts-deployer.yaml" | kubectl apply -f -
