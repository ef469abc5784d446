{{/* vim: set filetype=mustache: */}}

{{/* Chart name, overridable. */}}
{{- define "glm-tts-image-policy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name prefix: release-chart unless the release name already contains the chart name. */}}
{{- define "glm-tts-image-policy.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "glm-tts-image-policy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "glm-tts-image-policy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "glm-tts-image-policy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "glm-tts-image-policy.labels" -}}
helm.sh/chart: {{ include "glm-tts-image-policy.chart" . }}
{{ include "glm-tts-image-policy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: glm-tts
app.kubernetes.io/component: image-policy
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Metadata annotations: the common ones plus the Argo CD sync wave of the object's group.
Usage: include "glm-tts-image-policy.annotations" (dict "ctx" $ "wave" "server" "extra" $map)
*/}}
{{- define "glm-tts-image-policy.annotations" -}}
{{- $ctx := .ctx -}}
{{- $annotations := merge (dict) (.extra | default (dict)) $ctx.Values.commonAnnotations -}}
{{- if and .wave $ctx.Values.argocd.syncWaves.enabled -}}
{{- $_ := set $annotations "argocd.argoproj.io/sync-wave" (index $ctx.Values.argocd.syncWaves .wave | toString) -}}
{{- end -}}
{{- if $annotations -}}
annotations:
  {{- toYaml $annotations | nindent 2 }}
{{- end -}}
{{- end -}}

{{- define "glm-tts-image-policy.serviceAccountName" -}}
{{- if .Values.webhook.serviceAccount.create -}}
{{- default (include "glm-tts-image-policy.fullname" .) .Values.webhook.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.webhook.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The webhook image, pinned by digest when one is given. */}}
{{- define "glm-tts-image-policy.image" -}}
{{- $image := .Values.webhook.image -}}
{{- $ref := printf "%s/%s" $image.registry $image.repository -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $ref $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "glm-tts-image-policy.serviceName" -}}
{{- include "glm-tts-image-policy.fullname" . -}}
{{- end -}}

{{- define "glm-tts-image-policy.caName" -}}
{{- printf "%s-ca" (include "glm-tts-image-policy.fullname" .) -}}
{{- end -}}

{{- define "glm-tts-image-policy.servingCertName" -}}
{{- printf "%s-serving" (include "glm-tts-image-policy.fullname" .) -}}
{{- end -}}

{{/* The Secret holding tls.crt/tls.key: cert-manager's or the user's. */}}
{{- define "glm-tts-image-policy.tlsSecretName" -}}
{{- if .Values.tls.certManager.enabled -}}
{{- printf "%s-tls" (include "glm-tts-image-policy.fullname" .) -}}
{{- else -}}
{{- .Values.tls.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "glm-tts-image-policy.policyConfigMapName" -}}
{{- printf "%s-policy" (include "glm-tts-image-policy.fullname" .) -}}
{{- end -}}

{{/* Namespaces the admission engines skip: the policy's, plus the webhook's own (it must start without itself). */}}
{{- define "glm-tts-image-policy.skippedNamespaces" -}}
{{- $namespaces := list -}}
{{- range .Values.policy.exemptNamespaces -}}
{{- $namespaces = append $namespaces . -}}
{{- end -}}
{{- if eq .Values.engine "webhook" -}}
{{- $namespaces = append $namespaces .Release.Namespace -}}
{{- end -}}
{{- toYaml ($namespaces | uniq | sortAlpha) -}}
{{- end -}}

{{/*
namespaceSelector of every engine. Opt-in (default): only namespaces labelled `<label>=enforce`
are judged, so installing the chart changes nothing until a namespace is labelled. Otherwise every
namespace but those labelled `<label>=disabled`. The skipped namespaces (what the webhook itself
depends on) are left out either way, even when labelled.
*/}}
{{- define "glm-tts-image-policy.namespaceSelector" -}}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values:
      {{- include "glm-tts-image-policy.skippedNamespaces" . | nindent 6 }}
  - key: {{ .Values.admission.namespaceLabel }}
    {{- if .Values.admission.optIn }}
    operator: In
    values:
      - enforce
    {{- else }}
    operator: NotIn
    values:
      - disabled
    {{- end }}
{{- end -}}

{{/*
The pod spec's images of `object` or `oldObject` as one CEL list expression, for matchConditions
(which cannot use variables). [x].map(o, ...) binds the object and the pod spec once each.
Usage: include "glm-tts-image-policy.celImagesOf" "oldObject"
*/}}
{{- define "glm-tts-image-policy.celImagesOf" -}}
{{- printf "[%s].map(o, has(o.spec.jobTemplate) ? o.spec.jobTemplate.spec.template.spec : (has(o.spec.template) ? o.spec.template.spec : o.spec)).map(s, (has(s.containers) ? s.containers : []) + (has(s.initContainers) ? s.initContainers : []) + (has(s.ephemeralContainers) ? s.ephemeralContainers : []))[0].filter(c, has(c.image)).map(c, c.image)" . -}}
{{- end -}}

{{/*
The condition under which an engine judges a request: a CREATE, or an UPDATE that brings an image
the old object did not run. Scaling or patching a running workload is never blocked by the images
it already has (admitted earlier, or from before the policy).
*/}}
{{- define "glm-tts-image-policy.judgedRequestCondition" -}}
{{- /* The API server always sends oldObject on UPDATE. The old side reads `object` otherwise, so no
evaluator meets a null there, even one that evaluates both sides of ||. */ -}}
{{- printf "request.operation != 'UPDATE' || %s.exists(i, !(i in %s))" (include "glm-tts-image-policy.celImagesOf" "object") (include "glm-tts-image-policy.celImagesOf" "request.operation == 'UPDATE' ? oldObject : object") -}}
{{- end -}}

{{/*
The image policy file the webhook reads (contract: hooks/glm_tts_hooks/webhook/policy.py).
Rendered from .Values.policy key by key so the file never carries chart-only keys.
*/}}
{{- define "glm-tts-image-policy.policyDocument" -}}
{{- $p := .Values.policy -}}
mode: {{ $p.mode }}
allowedRegistries:
  {{- toYaml $p.allowedRegistries | nindent 2 }}
requireDigest: {{ $p.requireDigest }}
deniedTags: {{ toYaml $p.deniedTags | nindent 2 }}
denyUntagged: {{ $p.denyUntagged }}
exemptNamespaces: {{ toYaml $p.exemptNamespaces | nindent 2 }}
signatures:
  required: {{ $p.signatures.required }}
  publicKeys: {{ toYaml $p.signatures.publicKeys | nindent 4 }}
  cacheTTLSeconds: {{ $p.signatures.cacheTTLSeconds }}
  timeoutSeconds: {{ $p.signatures.timeoutSeconds }}
  failOpen: {{ $p.signatures.failOpen }}
  insecureRegistries: {{ toYaml $p.signatures.insecureRegistries | nindent 4 }}
{{- end -}}

{{/*
Workload resources every engine admits: pods (and the ephemeral-containers subresource, which
adds containers to a running pod) and every controller with a pod template.
*/}}
{{- define "glm-tts-image-policy.resourceRules" -}}
- apiGroups: [""]
  apiVersions: ["v1"]
  resources: ["pods", "pods/ephemeralcontainers", "replicationcontrollers"]
- apiGroups: ["apps"]
  apiVersions: ["v1"]
  resources: ["deployments", "statefulsets", "daemonsets", "replicasets"]
- apiGroups: ["batch"]
  apiVersions: ["v1"]
  resources: ["jobs", "cronjobs"]
{{- end -}}

{{/* ---------------------------------------------------------------------------------------------
CEL (ValidatingAdmissionPolicy and Kyverno validate.cel share it).

Regular expressions are RE2 with no backslashes: a literal '.' is written [.] so the patterns read
the same in YAML, in CEL string literals and in every RE2 implementation.
--------------------------------------------------------------------------------------------- */}}

{{/* Escape a registry host, repository path or tag for RE2 (the schema limits them to [A-Za-z0-9._:/-]). */}}
{{- define "glm-tts-image-policy.re2Quote" -}}
{{- . | replace "." "[.]" -}}
{{- end -}}

{{/*
One allow-list entry as an RE2 alternative over a normalised image name (`host/path[:tag][@digest]`).
The path must end on a boundary ('/', ':' tag, '@' digest or the end), so `ai/` never admits `ai-evil/x`.
Docker Hub is spelt docker.io or index.docker.io, and `docker.io/x` means `docker.io/library/x`.
*/}}
{{- define "glm-tts-image-policy.registryAlternative" -}}
{{- $entry := . | trim | trimSuffix "/" -}}
{{- $parts := splitn "/" 2 $entry -}}
{{- $host := lower $parts._0 -}}
{{- $path := $parts._1 | default "" -}}
{{- $docker := or (eq $host "docker.io") (eq $host "index.docker.io") -}}
{{- $hostRe := ternary "docker[.]io|index[.]docker[.]io" (include "glm-tts-image-policy.re2Quote" $host) $docker -}}
{{- $hostRe = printf "(?i:%s)/" $hostRe -}}
{{- $pathRe := include "glm-tts-image-policy.re2Quote" $path -}}
{{- if not $path -}}
{{- $hostRe -}}
{{- else if and $docker (eq $path "library") -}}
{{- printf "%s(?:library(?:[/:@]|$)|[^/]+$)" $hostRe -}}
{{- else if and $docker (hasPrefix "library/" $path) (not (contains "/" (trimPrefix "library/" $path))) -}}
{{- $short := include "glm-tts-image-policy.re2Quote" (trimPrefix "library/" $path) -}}
{{- printf "%s(?:%s(?:[/:@]|$)|%s(?:[:@]|$))" $hostRe $pathRe $short -}}
{{- else if and $docker (not (contains "/" $path)) -}}
{{- /* docker.io/user alone is docker.io/library/user: only docker.io/user/... lies under docker.io/user/. */ -}}
{{- printf "%s%s/" $hostRe $pathRe -}}
{{- else -}}
{{- printf "%s%s(?:[/:@]|$)" $hostRe $pathRe -}}
{{- end -}}
{{- end -}}

{{- define "glm-tts-image-policy.allowedRegistriesRegex" -}}
{{- $alternatives := list -}}
{{- range .Values.policy.allowedRegistries -}}
{{- $alternatives = append $alternatives (include "glm-tts-image-policy.registryAlternative" .) -}}
{{- end -}}
{{- printf "^(?:%s)" (join "|" $alternatives) -}}
{{- end -}}

{{/*
A well-formed image reference, as github.com/distribution/reference parses it: an optional host
(it has a '.' or ':' or is localhost) then lower-case path components, an optional tag, an
optional digest. A first component followed by '/' without a '.' is a path component.
The IPv6 host brackets are the only backslashes: the expression uses a CEL raw string r'...' for it.
*/}}
{{- define "glm-tts-image-policy.referenceRegex" -}}
{{- $label := "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])" -}}
{{- $host := printf "(?:%s(?:[.]%s)+(?::[0-9]+)?|%s:[0-9]+|\\[[a-fA-F0-9:]+\\](?::[0-9]+)?|localhost)" $label $label $label -}}
{{- $component := "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*" -}}
{{- $firstComponent := "[a-z0-9]+(?:(?:_|__|-+)[a-z0-9]+)*" -}}
{{- $tag := "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}" -}}
{{- $digest := "[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}" -}}
{{- printf "^(?:(?:%s|%s)(?:/%s)+|%s)(?::%s)?(?:@%s)?$" $host $firstComponent $component $component $tag $digest -}}
{{- end -}}

{{/*
variables: the pod spec of any workload kind, all its containers, their images, normalised names,
then per rule the offending entries (so a validation is `size(...) == 0` and its message can name one).
*/}}
{{- define "glm-tts-image-policy.celVariables" -}}
{{- $p := .Values.policy -}}
- name: podSpec
  expression: >-
    has(object.spec.jobTemplate) ? object.spec.jobTemplate.spec.template.spec :
    (has(object.spec.template) ? object.spec.template.spec : object.spec)
- name: containers
  expression: >-
    (has(variables.podSpec.containers) ? variables.podSpec.containers : []) +
    (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : []) +
    (has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])
- name: images
  expression: variables.containers.filter(c, has(c.image)).map(c, c.image)
# Short names as the runtime resolves them: nginx -> docker.io/library/nginx, user/app -> docker.io/user/app.
- name: names
  expression: >-
    variables.images.map(i, i.matches('^(?:localhost|[^/]*[.:][^/]*)/') ? i :
    (i.contains('/') ? 'docker.io/' + i : 'docker.io/library/' + i))
# Containers without a well-formed reference (a sha256 digest must be 64 lower-case hex).
- name: invalidReferences
  expression: {{ printf "variables.containers.filter(c, !(has(c.image) && c.image.matches(r'%s') && (!c.image.matches('@sha256:') || c.image.matches('@sha256:[0-9a-f]{64}$')))).map(c, c.name)" (include "glm-tts-image-policy.referenceRegex" .) | quote }}
- name: disallowedRegistries
  expression: {{ printf "variables.names.filter(n, !n.matches('%s'))" (include "glm-tts-image-policy.allowedRegistriesRegex" .) | quote }}
{{- if $p.deniedTags }}
{{- $tags := list }}
{{- range $p.deniedTags }}
{{- $tags = append $tags (include "glm-tts-image-policy.re2Quote" .) }}
{{- end }}
- name: deniedTags
  expression: {{ printf "variables.images.filter(i, i.matches('^[^@]*:(?:%s)(?:@|$)'))" (join "|" $tags) | quote }}
{{- end }}
{{- if $p.denyUntagged }}
# No '@' and no ':' after the last '/' (a ':' before it is a registry port).
- name: untagged
  expression: "variables.images.filter(i, !i.contains('@') && !i.matches(':[^/]*$'))"
{{- end }}
{{- if $p.requireDigest }}
- name: unpinned
  expression: "variables.images.filter(i, !i.matches('@sha256:[0-9a-f]{64}$'))"
{{- end }}
{{- end -}}

{{/*
validations in the webhook's rule order (policy.RULES): the API server reports the first that fails.
Each message ends in [rule <name>], as the webhook's messages do; messageExpression names the first
offending container or image (the static message stands in if it cannot be evaluated).
*/}}
{{- define "glm-tts-image-policy.celValidations" -}}
{{- $p := .Values.policy -}}
{{- $rules := list -}}
{{- $rules = append $rules (dict
  "expression" "size(variables.invalidReferences) == 0"
  "messageExpression" "'container ' + variables.invalidReferences[0] + ' has no valid image reference; write registry/repository@sha256:<64 hex> [rule invalid-reference]'"
  "message" "every container needs a valid image reference, e.g. registry.example.com/team/app@sha256:<64 hex> [rule invalid-reference]") -}}
{{- $allowed := join ", " $p.allowedRegistries -}}
{{- $rules = append $rules (dict
  "expression" "size(variables.disallowedRegistries) == 0"
  "messageExpression" (printf "'image ' + variables.disallowedRegistries[0] + ' is not from an allowed registry; push it to one of: %s [rule registry]'" $allowed)
  "message" (printf "an image is not from an allowed registry; allowed: %s [rule registry]" $allowed)) -}}
{{- if $p.deniedTags -}}
{{- $rules = append $rules (dict
  "expression" "size(variables.deniedTags) == 0"
  "messageExpression" (printf "'image ' + variables.deniedTags[0] + ' uses a denied tag (%s); use an immutable tag and pin by digest [rule denied-tag]'" (join ", " $p.deniedTags))
  "message" (printf "an image uses a denied tag (%s); use an immutable tag and pin by digest [rule denied-tag]" (join ", " $p.deniedTags))) -}}
{{- end -}}
{{- if $p.denyUntagged -}}
{{- $rules = append $rules (dict
  "expression" "size(variables.untagged) == 0"
  "messageExpression" "'image ' + variables.untagged[0] + ' has neither tag nor digest (the runtime would pull :latest); pin it by digest [rule untagged]'"
  "message" "an image has neither tag nor digest (the runtime would pull :latest); pin it by digest [rule untagged]") -}}
{{- end -}}
{{- if $p.requireDigest -}}
{{- $rules = append $rules (dict
  "expression" "size(variables.unpinned) == 0"
  "messageExpression" "'image ' + variables.unpinned[0] + ' is not pinned by a sha256 digest; write it as name@sha256:<digest> [rule digest]'"
  "message" "an image is not pinned by a sha256 digest; write it as name@sha256:<digest> [rule digest]") -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}
