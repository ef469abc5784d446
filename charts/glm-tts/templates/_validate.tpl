{{/*
Every settings check the schema cannot express, in one place; templates/validate.yaml calls it once.
Each message names the value to set.
*/}}
{{- define "glm-tts.validate" -}}
{{- $v := .Values -}}
{{- $min := add $v.preStopSleepSeconds $v.server.drainTimeoutSeconds -}}
{{- if le (int $v.terminationGracePeriodSeconds) (int $min) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds + server.drainTimeoutSeconds (%v), or in-flight requests are killed during rollouts" $v.terminationGracePeriodSeconds $min) -}}
{{- end -}}
{{- if $v.oauth2Proxy.enabled -}}
{{- if not (or $v.oauth2Proxy.existingSecret (and $v.oauth2Proxy.clientId $v.oauth2Proxy.clientSecret $v.oauth2Proxy.cookieSecret)) -}}
{{- fail "oauth2Proxy.enabled needs oauth2Proxy.existingSecret (keys client-id, client-secret, cookie-secret) or all of oauth2Proxy.clientId, clientSecret and cookieSecret" -}}
{{- end -}}
{{- if not $v.oauth2Proxy.issuerUrl -}}
{{- fail "oauth2Proxy.enabled needs oauth2Proxy.issuerUrl (your OIDC issuer)" -}}
{{- end -}}
{{- if not $v.auth.existingSecret -}}
{{- fail (printf "oauth2Proxy.enabled leaves the server port %s open to anything that reaches the internal Service (NetworkPolicy is not enforced everywhere): set auth.existingSecret to a Secret with key api-key so the server itself requires a key" (include "glm-tts.serverPort" .)) -}}
{{- end -}}
{{- end -}}
{{- if and $v.ingress.enabled $v.httpRoute.enabled -}}
{{- fail "enable either ingress or httpRoute, not both" -}}
{{- end -}}
{{- if and $v.httpRoute.canary.serviceName (not $v.httpRoute.enabled) -}}
{{- fail "httpRoute.canary.serviceName splits the HTTPRoute's traffic: set httpRoute.enabled=true (with parentRefs) on this release" -}}
{{- end -}}
{{- if and $v.httpRoute.enabled (not $v.httpRoute.parentRefs) -}}
{{- fail "httpRoute.enabled needs httpRoute.parentRefs (the Gateway to attach to)" -}}
{{- end -}}
{{- if eq $v.server.backend "glmtts" -}}
{{- if not $v.persistence.enabled -}}
{{- fail "server.backend=glmtts loads the weights from a volume: set persistence.enabled=true (with persistence.existingClaim or modelDownload.enabled), or use server.backend=espeak" -}}
{{- end -}}
{{- if not (or $v.modelDownload.enabled $v.persistence.existingClaim) -}}
{{- fail "server.backend=glmtts has no weights: set persistence.existingClaim to a PVC that holds the GLM-TTS checkpoints, or modelDownload.enabled=true (modelDownload.source, e.g. hf://zai-org/GLM-TTS) to fill the volume" -}}
{{- end -}}
{{- end -}}
{{- $strategy := include "glm-tts.strategyType" . -}}
{{- if and (eq $strategy "RollingUpdate") (eq (int $v.rollout.maxSurge) 0) (eq (int $v.rollout.maxUnavailable) 0) -}}
{{- fail "rollout.maxSurge and rollout.maxUnavailable cannot both be 0: set rollout.maxUnavailable=1 (no spare GPU needed) or rollout.maxSurge=1 (needs a spare GPU)" -}}
{{- end -}}
{{- if and (eq $strategy "RollingUpdate") $v.persistence.enabled (gt (int $v.rollout.maxSurge) 0) (not (or (has "ReadWriteMany" $v.persistence.accessModes) (has "ReadOnlyMany" $v.persistence.accessModes))) -}}
{{- fail "rollout.maxSurge > 0 with a ReadWriteOnce model volume: the surge pod cannot attach it on another node; set rollout.maxSurge=0 or rollout.strategy=auto, or use a ReadOnlyMany/ReadWriteMany claim (persistence.accessModes)" -}}
{{- end -}}
{{- if and (include "glm-tts.autoscaled" .) (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- fail (printf "autoscaling.minReplicas (%v) must not exceed autoscaling.maxReplicas (%v)" $v.autoscaling.minReplicas $v.autoscaling.maxReplicas) -}}
{{- end -}}
{{- end -}}
