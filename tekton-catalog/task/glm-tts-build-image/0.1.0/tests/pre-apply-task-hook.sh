#!/usr/bin/env bash
# Catalog test runner hook: give the Task an in-pod registry (localhost:5000) to push to,
# so the test needs no external registry. add_sidecar_registry is the runner's helper.
set -euo pipefail
add_sidecar_registry "${TMPF:?TMPF is set by the catalog test runner}"
