{{/*
The security pack's rules, one list rendered as ValidatingAdmissionPolicies or Kyverno ClusterPolicies
(the same CEL either way). Each rule: name, scope (pods | gpu | services | routes), the CEL that must
hold, and the message. Pod rules read `variables.podSpec` and `variables.containers` (containers,
init and ephemeral) as the image policy does.
*/}}
{{- /* targetPort is an int or a name: compared as a string, which every CEL evaluator supports. */ -}}
{{- define "glm-tts-image-policy.securityRules" -}}
{{- $s := .Values.securityPack -}}
{{- $r := $s.rules -}}
{{- if $r.noHostPath }}
- name: no-host-path
  scope: pods
  expression: "!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(v.hostPath))"
  message: GLM-TTS pods must not mount hostPath volumes (they reach the node's files); use a PVC
{{- end }}
{{- if $r.readOnlyModels }}
- name: read-only-models
  scope: pods
  expression: {{ printf "(has(variables.podSpec.containers) ? variables.podSpec.containers : []).all(c, !has(c.volumeMounts) || c.volumeMounts.all(m, !(m.name in %s) || (has(m.readOnly) && m.readOnly)))" (toJson $s.modelVolumes | replace "\"" "'") | quote }}
  message: {{ printf "GLM-TTS containers must mount the model volumes (%s) readOnly: true; only the download init container writes weights" (join ", " $s.modelVolumes) | quote }}
{{- end }}
{{- if $r.restricted }}
- name: restricted-pod-security
  scope: pods
  expression: >-
    !(has(variables.podSpec.hostNetwork) && variables.podSpec.hostNetwork) &&
    !(has(variables.podSpec.hostPID) && variables.podSpec.hostPID) &&
    !(has(variables.podSpec.hostIPC) && variables.podSpec.hostIPC) &&
    variables.containers.all(c,
      has(c.securityContext) &&
      has(c.securityContext.allowPrivilegeEscalation) && !c.securityContext.allowPrivilegeEscalation &&
      !(has(c.securityContext.privileged) && c.securityContext.privileged) &&
      has(c.securityContext.capabilities) && has(c.securityContext.capabilities.drop) &&
      c.securityContext.capabilities.drop.exists(d, d == 'ALL') &&
      ((has(c.securityContext.runAsNonRoot) && c.securityContext.runAsNonRoot) ||
       (!has(c.securityContext.runAsNonRoot) && has(variables.podSpec.securityContext) &&
        has(variables.podSpec.securityContext.runAsNonRoot) && variables.podSpec.securityContext.runAsNonRoot)) &&
      ((has(c.securityContext.seccompProfile) && c.securityContext.seccompProfile.type in ['RuntimeDefault', 'Localhost']) ||
       (!has(c.securityContext.seccompProfile) && has(variables.podSpec.securityContext) &&
        has(variables.podSpec.securityContext.seccompProfile) &&
        variables.podSpec.securityContext.seccompProfile.type in ['RuntimeDefault', 'Localhost'])))
  message: "GLM-TTS pods must meet the restricted Pod Security Standard: runAsNonRoot, allowPrivilegeEscalation: false, capabilities.drop [ALL], seccompProfile RuntimeDefault or Localhost, not privileged, no host network/PID/IPC"
{{- end }}
{{- if $r.gpuNamespaces }}
- name: gpu-namespaces
  scope: gpu
  expression: >-
    variables.containers.all(c, !has(c.resources) ||
      ((!has(c.resources.limits) || !c.resources.limits.exists(k, k.startsWith('nvidia.com/'))) &&
       (!has(c.resources.requests) || !c.resources.requests.exists(k, k.startsWith('nvidia.com/')))))
  message: {{ printf "GPUs (nvidia.com/*) may be requested only in the namespaces %s" (join ", " $s.gpuNamespaces) | quote }}
{{- end }}
{{- if $r.authProxyOnly }}
- name: app-port-behind-proxy
  scope: services
  expression: {{ printf "!(has(object.spec.selector) && object.spec.selector.exists(k, k in %s && object.spec.selector[k] == %s[k])) || !(object.spec.type in ['NodePort', 'LoadBalancer'] || (has(object.spec.externalIPs) && size(object.spec.externalIPs) > 0)) || object.spec.ports.all(p, !(has(p.targetPort) ? string(p.targetPort) in ['%d', 'http'] : p.port == %d))" (toJson (keys $s.podSelector.matchLabels | sortAlpha) | replace "\"" "'") (toJson $s.podSelector.matchLabels | replace "\"" "'") (int $s.appPort) (int $s.appPort) | quote }}
  message: {{ printf "a NodePort/LoadBalancer Service must not expose the GLM-TTS app port %d: publish the auth proxy's port" (int $s.appPort) | quote }}
- name: no-route-to-internal-service
  scope: routes
  expression: >-
    (object.kind == 'Ingress' ?
      (!has(object.spec.defaultBackend) || !has(object.spec.defaultBackend.service) || !object.spec.defaultBackend.service.name.endsWith('-internal')) &&
      (!has(object.spec.rules) || object.spec.rules.all(r, !has(r.http) || r.http.paths.all(p, !has(p.backend.service) || !p.backend.service.name.endsWith('-internal')))) :
      (!has(object.spec.rules) || object.spec.rules.all(r, !has(r.backendRefs) || r.backendRefs.all(b, !b.name.endsWith('-internal')))))
  message: "Ingresses and HTTPRoutes must not route to a GLM-TTS internal (API-key) Service (<release>-internal): route to the auth proxy's Service"
{{- end }}
{{- end -}}

{{/* resourceRules per scope (the pod scopes judge pods and every workload with a pod template). */}}
{{- define "glm-tts-image-policy.securityResourceRules" -}}
{{- if has . (list "pods" "gpu") -}}
- apiGroups: [""]
  apiVersions: ["v1"]
  resources: ["pods", "replicationcontrollers"]
- apiGroups: ["apps"]
  apiVersions: ["v1"]
  resources: ["deployments", "statefulsets", "daemonsets", "replicasets"]
- apiGroups: ["batch"]
  apiVersions: ["v1"]
  resources: ["jobs", "cronjobs"]
{{- else if eq . "services" -}}
- apiGroups: [""]
  apiVersions: ["v1"]
  resources: ["services"]
{{- else -}}
- apiGroups: ["networking.k8s.io"]
  apiVersions: ["v1"]
  resources: ["ingresses"]
- apiGroups: ["gateway.networking.k8s.io"]
  apiVersions: ["v1"]
  resources: ["httproutes"]
{{- end -}}
{{- end -}}

{{/* Kyverno `kinds` for the same scopes. */}}
{{- define "glm-tts-image-policy.securityKinds" -}}
{{- if has . (list "pods" "gpu") -}}
{{- toJson (list "Pod" "ReplicationController" "Deployment" "StatefulSet" "DaemonSet" "ReplicaSet" "Job" "CronJob") -}}
{{- else if eq . "services" -}}
["Service"]
{{- else -}}
["networking.k8s.io/v1/Ingress", "gateway.networking.k8s.io/v1/HTTPRoute"]
{{- end -}}
{{- end -}}

{{/* The variables the pod rules read. */}}
{{- define "glm-tts-image-policy.securityVariables" -}}
- name: podSpec
  expression: >-
    has(object.spec.jobTemplate) ? object.spec.jobTemplate.spec.template.spec :
    (has(object.spec.template) ? object.spec.template.spec : object.spec)
- name: containers
  expression: >-
    (has(variables.podSpec.containers) ? variables.podSpec.containers : []) +
    (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : []) +
    (has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])
{{- end -}}

{{/* Namespace selector per scope: GPU requests are judged everywhere but the allowed namespaces. */}}
{{- define "glm-tts-image-policy.securityNamespaceSelector" -}}
{{- $ctx := .ctx -}}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values:
      {{- $skip := $ctx.Values.policy.exemptNamespaces -}}
      {{- if eq .scope "gpu" }}{{ $skip = concat $skip $ctx.Values.securityPack.gpuNamespaces }}{{ end }}
      {{- toYaml ($skip | uniq | sortAlpha) | nindent 6 }}
{{- end -}}
