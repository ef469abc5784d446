{{/* Constants of the server image: defined here once, used by every template. */}}
{{- define "glm-tts.serverPort" -}}8080{{- end -}}
{{- define "glm-tts.modelDir" -}}/models{{- end -}}

{{/* Names */}}
{{- define "glm-tts.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "glm-tts.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "glm-tts.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "glm-tts.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "glm-tts.internalServiceName" -}}{{ include "glm-tts.fullname" . }}-internal{{- end -}}

{{- define "glm-tts.selectorLabels" -}}
app.kubernetes.io/name: {{ include "glm-tts.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "glm-tts.commonLabels" -}}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: glm-tts
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "glm-tts.labels" -}}
{{ include "glm-tts.selectorLabels" . }}
{{ include "glm-tts.commonLabels" . }}
{{- end -}}

{{/*
Labels of hook and test pods. They must not match the Deployment's selector (name + instance):
otherwise HPA metrics, the PDB, topology spread and the not-ready alert count them as servers.
Usage: include "glm-tts.hookPodLabels" (dict "ctx" $ "component" "verify" "client" true)
*/}}
{{- define "glm-tts.hookPodLabels" -}}
app.kubernetes.io/name: {{ printf "%s-%s" (include "glm-tts.name" .ctx) .component | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{ include "glm-tts.hookPodLabel" .ctx }}
{{ include "glm-tts.commonLabels" .ctx }}
{{- if .client }}
{{ include "glm-tts.hookClientLabel" .ctx }}
{{- end }}
{{- end -}}

{{/* Every hook and test pod: selected by the deny-all-ingress hooks NetworkPolicy. */}}
{{- define "glm-tts.hookPodLabel" -}}
glm-tts.io/hook-pod: {{ .Release.Name | quote }}
{{- end -}}

{{/* Pods the NetworkPolicy admits to the server port: the chart's own verify and test hooks. */}}
{{- define "glm-tts.hookClientLabel" -}}
glm-tts.io/hook-client: {{ .Release.Name | quote }}
{{- end -}}

{{- define "glm-tts.annotations" -}}
{{- with .Values.commonAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
One image object shape everywhere: {registry, repository, tag, digest, pullPolicy}.
registry/repository@digest, else :tag, else :appVersion.
Usage: include "glm-tts.imageRef" (dict "image" .Values.image "ctx" $)
*/}}
{{- define "glm-tts.imageRef" -}}
{{- $image := .image -}}
{{- $repository := ternary $image.repository (printf "%s/%s" $image.registry $image.repository) (empty $image.registry) -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (toString (default .ctx.Chart.AppVersion $image.tag)) -}}
{{- end -}}
{{- end -}}

{{/* image + imagePullPolicy lines of a container. Usage: include "glm-tts.containerImage" (dict "image" ... "ctx" $) */}}
{{- define "glm-tts.containerImage" -}}
image: {{ include "glm-tts.imageRef" . | quote }}
imagePullPolicy: {{ default "IfNotPresent" .image.pullPolicy }}
{{- end -}}

{{/* The download runs the hooks image unless an image of its own is set. */}}
{{- define "glm-tts.modelDownloadImage" -}}
{{- ternary .Values.modelDownload.image .Values.hooks.image (not (empty .Values.modelDownload.image.repository)) | toYaml -}}
{{- end -}}

{{/* Pod-level settings shared by every pod of the chart. */}}
{{- define "glm-tts.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "glm-tts.containerSecurityContext" -}}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
{{- end -}}

{{/* A writable /tmp for containers with a read-only root filesystem. */}}
{{- define "glm-tts.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/*
Resources with the GPU limit merged in (one place for the merge).
Usage: include "glm-tts.gpuResources" (dict "resources" .Values.resources "ctx" $)
*/}}
{{- define "glm-tts.gpuResources" -}}
{{- $resources := deepCopy (default (dict) .resources) -}}
{{- $gpu := .ctx.Values.gpu -}}
{{- if gt (int $gpu.count) 0 -}}
{{- $limits := default (dict) $resources.limits -}}
{{- $_ := set $limits $gpu.resourceName $gpu.count -}}
{{- $_ := set $resources "limits" $limits -}}
{{- end -}}
{{- toYaml $resources -}}
{{- end -}}

{{/* In-cluster URL of the server port (the credentialed internal path). */}}
{{- define "glm-tts.serverUrl" -}}
{{- printf "http://%s.%s.svc:%s" (include "glm-tts.internalServiceName" .) .Release.Namespace (include "glm-tts.serverPort" .) -}}
{{- end -}}

{{/* Autoscaling owns the replica count when an HPA or a ScaledObject is rendered. */}}
{{- define "glm-tts.autoscaled" -}}
{{- if ne .Values.autoscaling.mode "none" -}}true{{- end -}}
{{- end -}}

{{- define "glm-tts.replicas" -}}
{{- if include "glm-tts.autoscaled" . -}}{{ .Values.autoscaling.minReplicas }}{{- else -}}{{ .Values.replicaCount }}{{- end -}}
{{- end -}}

{{- define "glm-tts.modelClaim" -}}
{{- default (printf "%s-models" (include "glm-tts.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/*
Rollout strategy type. `auto` picks Recreate when the model volume can be attached to one node only
(a surge pod scheduled elsewhere would hang on Multi-Attach), else RollingUpdate.
*/}}
{{- define "glm-tts.strategyType" -}}
{{- $type := .Values.rollout.strategy -}}
{{- if eq $type "auto" -}}
{{- $modes := .Values.persistence.accessModes -}}
{{- $sharable := or (has "ReadWriteMany" $modes) (has "ReadOnlyMany" $modes) -}}
{{- $type = ternary "Recreate" "RollingUpdate" (and .Values.persistence.enabled (not $sharable)) -}}
{{- end -}}
{{- $type -}}
{{- end -}}

{{/* Pods the rollout runs on top of the replicas (what preflight must find room for). */}}
{{- define "glm-tts.surge" -}}
{{- if eq (include "glm-tts.strategyType" .) "RollingUpdate" -}}{{ .Values.rollout.maxSurge }}{{- else -}}0{{- end -}}
{{- end -}}

{{/* Start-up budget: image pull and scheduling plus model load; the longest a healthy cold start takes. */}}
{{- define "glm-tts.startupBudgetSeconds" -}}
{{- add (include "glm-tts.modelLoadSeconds" .) .Values.startupProbe.imagePullSeconds -}}
{{- end -}}

{{/* Model instances per pod (GLMTTS_INSTANCES): instances per GPU x GPUs; a CPU pod counts as one "GPU". */}}
{{- define "glm-tts.instances" -}}
{{- mul (max 1 (int .Values.gpu.instancesPerGpu)) (max 1 (int .Values.gpu.count)) -}}
{{- end -}}

{{/* Queue depth per pod the autoscaler aims at: the per-instance target x the pod's instances. */}}
{{- define "glm-tts.targetQueueDepthPerPod" -}}
{{- mul .Values.autoscaling.targetQueueDepth (include "glm-tts.instances" . | int) -}}
{{- end -}}

{{/* Model load and warm-up for every instance of the pod (instances load one after another, worst case). */}}
{{- define "glm-tts.modelLoadSeconds" -}}
{{- mul .Values.startupProbe.maxSeconds (max 1 (int .Values.gpu.instancesPerGpu)) -}}
{{- end -}}

{{- define "glm-tts.verifyTimeoutSeconds" -}}
{{- if gt (int .Values.verify.timeoutSeconds) 0 -}}{{ .Values.verify.timeoutSeconds }}{{- else -}}{{ include "glm-tts.startupBudgetSeconds" . }}{{- end -}}
{{- end -}}

{{/* Helm hook annotations plus their Argo CD equivalents, so both tools run hooks the same way. */}}
{{- define "glm-tts.hookAnnotations" -}}
helm.sh/hook: {{ .hook }}
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: {{ default "before-hook-creation,hook-succeeded" .helmDelete }}
argocd.argoproj.io/hook: {{ .argo }}
argocd.argoproj.io/hook-delete-policy: {{ default "BeforeHookCreation,HookSucceeded" .argoDelete }}
argocd.argoproj.io/sync-wave: {{ .weight | quote }}
{{- end -}}

{{/* verify arguments shared by the post-install Job and the helm test Pod. */}}
{{- define "glm-tts.verifyArgs" -}}
- verify
- --url={{ include "glm-tts.serverUrl" . }}
- --timeout={{ include "glm-tts.verifyTimeoutSeconds" . }}
- --expect-sample-rate={{ .Values.server.sampleRate }}
{{- end -}}

{{/*
The API key from auth.existingSecret. Behind the proxy the key is mandatory (the server port must
never answer without it), so the reference is not optional there.
*/}}
{{- define "glm-tts.apiKeyEnv" -}}
{{- if .Values.auth.existingSecret -}}
- name: GLMTTS_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.existingSecret }}
      key: api-key
      optional: {{ not .Values.oauth2Proxy.enabled }}
{{- end -}}
{{- end -}}

{{- define "glm-tts.verifyEnv" -}}
{{- with (include "glm-tts.apiKeyEnv" .) -}}
env:
  {{- . | nindent 2 }}
{{- end -}}
{{- end -}}

{{/* Secrets and extra variables of the server container. */}}
{{- define "glm-tts.serverEnv" -}}
# One audit file per pod: on a shared data claim two pods never append to the same file.
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: GLMTTS_AUDIT_LOG
  value: /data/audit/$(POD_NAME).jsonl
{{- with .Values.auth.existingSecret }}
{{ include "glm-tts.apiKeyEnv" $ }}
- name: GLMTTS_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: admin-token
      optional: true
{{- end }}
{{- with .Values.server.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A label map as a selector string: k1=v1,k2=v2 (sorted keys, so renders stay identical). */}}
{{- define "glm-tts.selectorString" -}}
{{- $pairs := list -}}
{{- range $key := keys . | sortAlpha -}}
{{- $pairs = append $pairs (printf "%s=%s" $key (index $ $key)) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
