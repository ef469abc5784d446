#!/usr/bin/env bash
# make lint: ruff, shellcheck, yamllint with chart-testing's config, helm lint --strict (helm 3 and 4).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "lint: ruff"
ruff check inference hooks tests scripts

echo "lint: shellcheck"
git ls-files -z -- '*.sh' '.ci/run' | xargs -0 --no-run-if-empty shellcheck

# chart-testing lints Chart.yaml and values files, not templates (Go templating is not YAML).
lintconf=../shared/ct/lintconf.yaml
mapfile -t chart_yaml < <(git ls-files -- 'charts/*/Chart.yaml' 'charts/*/values.yaml' 'charts/*/ci/*.yaml')
if [[ ${#chart_yaml[@]} -eq 0 ]]; then
  echo "lint: no charts yet, yamllint skipped"
elif [[ -f $lintconf ]]; then
  echo "lint: yamllint (chart-testing lintconf)"
  yamllint --strict -c "$lintconf" "${chart_yaml[@]}"
else
  echo "lint: $lintconf absent (no ../shared beside this clone); yamllint with its defaults"
  yamllint -d relaxed "${chart_yaml[@]}"
fi

echo "lint: helm lint --strict"
python scripts/helm_lint.py

# Tekton catalog: tekton-lint fails on errors (its remaining warnings are allow-listed, with reasons,
# in tests/tekton/test_tekton_lint.py); step scripts are extracted and shellchecked / ruffed.
# tekton-lint 1.1.0 logs a harmless TypeError while locating the git-resolver taskRef's warning.
echo "lint: tekton-lint (tekton-catalog)"
(cd tekton-catalog && tekton-lint --config . 2>/dev/null)
echo "lint: shellcheck + ruff on Tekton step scripts"
python tests/tekton/step_scripts.py

# GitHub workflows: actionlint (built from its Go module by `make tools`), with shellcheck on run: steps.
echo "lint: actionlint (.github/workflows)"
if [[ -x .tools/bin/actionlint ]]; then
  .tools/bin/actionlint
elif [[ ${CI:-} == true ]]; then
  echo "actionlint is not built: run make tools" >&2; exit 1
else
  echo "lint: actionlint not built (make tools); skipped"
fi
