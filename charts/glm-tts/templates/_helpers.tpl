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

{{- define "glm-tts.selectorLabels" -}}
app.kubernetes.io/name: {{ include "glm-tts.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "glm-tts.labels" -}}
{{ include "glm-tts.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
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

{{/* registry/repository@digest, or :tag when no digest is given. */}}
{{- define "glm-tts.imageRef" -}}
{{- if .digest -}}
{{- printf "%s/%s@%s" .registry .repository .digest -}}
{{- else -}}
{{- printf "%s/%s:%s" .registry .repository (toString .tag) -}}
{{- end -}}
{{- end -}}

{{- define "glm-tts.image" -}}{{ include "glm-tts.imageRef" .Values.image }}{{- end -}}
{{- define "glm-tts.hooksImage" -}}{{ include "glm-tts.imageRef" .Values.hooks.image }}{{- end -}}
{{- define "glm-tts.proxyImage" -}}{{ include "glm-tts.imageRef" .Values.oauth2Proxy.image }}{{- end -}}

{{/* Restricted Pod Security Standard, shared by every pod and container of the chart. */}}
{{- define "glm-tts.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "glm-tts.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "glm-tts.serverServiceName" -}}{{ include "glm-tts.fullname" . }}{{- end -}}

{{/* In-cluster URL of the server port (hooks reach it directly; the NetworkPolicy admits them). */}}
{{- define "glm-tts.serverUrl" -}}
{{- printf "http://%s-internal.%s.svc:8080" (include "glm-tts.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "glm-tts.replicas" -}}
{{- if eq .Values.autoscaling.mode "none" -}}{{ .Values.replicaCount }}{{- else -}}{{ .Values.autoscaling.minReplicas }}{{- end -}}
{{- end -}}

{{- define "glm-tts.modelClaim" -}}
{{- default (printf "%s-models" (include "glm-tts.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/* Helm hook annotations plus their Argo CD equivalents, so both tools run hooks the same way. */}}
{{- define "glm-tts.hookAnnotations" -}}
helm.sh/hook: {{ .hook }}
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
argocd.argoproj.io/hook: {{ .argo }}
argocd.argoproj.io/hook-delete-policy: BeforeHookCreation,HookSucceeded
argocd.argoproj.io/sync-wave: {{ .weight | quote }}
{{- end -}}

{{/* Settings checks that cannot be expressed in values.schema.json. */}}
{{- define "glm-tts.validate" -}}
{{- $min := add .Values.preStopSleepSeconds .Values.server.drainTimeoutSeconds -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $min) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds + server.drainTimeoutSeconds (%v), or in-flight requests are killed during rollouts" .Values.terminationGracePeriodSeconds $min) -}}
{{- end -}}
{{- if and .Values.oauth2Proxy.enabled (not .Values.oauth2Proxy.existingSecret) (not (and .Values.oauth2Proxy.clientId .Values.oauth2Proxy.clientSecret .Values.oauth2Proxy.cookieSecret)) -}}
{{- fail "oauth2Proxy.enabled needs oauth2Proxy.existingSecret (keys client-id, client-secret, cookie-secret) or all of oauth2Proxy.clientId, clientSecret and cookieSecret" -}}
{{- end -}}
{{- if and .Values.oauth2Proxy.enabled (not .Values.oauth2Proxy.issuerUrl) -}}
{{- fail "oauth2Proxy.enabled needs oauth2Proxy.issuerUrl (your OIDC issuer)" -}}
{{- end -}}
{{- if and .Values.ingress.enabled .Values.httpRoute.enabled -}}
{{- fail "enable either ingress or httpRoute, not both" -}}
{{- end -}}
{{- end -}}

{{/* verify arguments shared by the post-install Job and the helm test Pod. */}}
{{- define "glm-tts.verifyArgs" -}}
- verify
- --url={{ include "glm-tts.serverUrl" . }}
- --timeout={{ .Values.verify.timeoutSeconds }}
- --expect-sample-rate={{ .Values.server.sampleRate }}
{{- end -}}

{{/* The API key, when the server requires one, reaches verify from the same Secret. */}}
{{- define "glm-tts.verifyEnv" -}}
{{- if .Values.auth.existingSecret -}}
env:
  - name: GLMTTS_API_KEY
    valueFrom:
      secretKeyRef:
        name: {{ .Values.auth.existingSecret }}
        key: api-key
        optional: true
{{- end -}}
{{- end -}}
