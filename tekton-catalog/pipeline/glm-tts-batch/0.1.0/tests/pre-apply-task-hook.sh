#!/usr/bin/env bash
# Catalog test runner hook: the batch Tasks, a CPU-profile service, and a PVC seeded with input.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
catalog="$(cd "$here/../../../.." && pwd)"
repo="$(cd "$catalog/.." && pwd)"
ns="${tns:?tns is set by the catalog test runner}"
for task in glm-tts-batch-plan glm-tts-batch-synthesize glm-tts-batch-gather; do
  kubectl -n "$ns" apply -f "$catalog/task/$task/0.1.0/$task.yaml"
done
kubectl create namespace glm-tts --dry-run=client -o yaml | kubectl apply -f -
helm upgrade --install glm-tts "$repo/charts/glm-tts" --namespace glm-tts \
  --values "$repo/charts/glm-tts/ci/cpu-values.yaml" --wait --timeout 10m
kubectl -n "$ns" apply -f - <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: glm-tts-batch-test
spec:
  accessModes: ["ReadWriteOnce"]
  resources:
    requests:
      storage: 100Mi
YAML
lines=""
for i in $(seq 1 12); do
  lines+="{\"uttid\": \"utt-$i\", \"prompt_text\": \"\", \"prompt_speech\": \"\", \"syn_text\": \"Batch line $i.\"}"$'\n'
done
kubectl -n "$ns" create configmap glm-tts-batch-input --from-literal=batch.jsonl="$lines" \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$ns" apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: glm-tts-batch-seed
spec:
  restartPolicy: Never
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    fsGroup: 65532
  containers:
    - name: seed
      image: docker.io/library/busybox:1.37.0@sha256:9db7b59979c38555a39def84a31fb98b5296952f9e3afd4f6f11f05b07adfab0
      command: ["cp", "/input/batch.jsonl", "/data/batch.jsonl"]
      volumeMounts:
        - {name: data, mountPath: /data}
        - {name: input, mountPath: /input}
  volumes:
    - name: data
      persistentVolumeClaim:
        claimName: glm-tts-batch-test
    - name: input
      configMap:
        name: glm-tts-batch-input
YAML
kubectl -n "$ns" wait --for=jsonpath='{.status.phase}'=Succeeded pod/glm-tts-batch-seed --timeout=300s
