#!/usr/bin/env bash
# Catalog test runner hook: the namespaces and the read-only RBAC the preflight runs with.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kubectl create namespace glm-tts --dry-run=client -o yaml | kubectl apply -f -
kubectl create namespace glm-tts-ci --dry-run=client -o yaml | kubectl apply -f -
# The TaskRun runs in the runner's namespace: bind the same roles to its checker account there.
sed "s/namespace: glm-tts-ci/namespace: ${tns:?tns is set by the catalog test runner}/" \
  "$here/../rbac/glm-tts-checker.yaml" | kubectl apply -f -
