{{/* Fail early, with the fix in the message, on values the schema cannot cross-check. */}}
{{- define "glm-tts-image-policy.validate" -}}
{{- $sig := .Values.policy.signatures -}}
{{- if and $sig.required (not $sig.publicKeys) (ne .Values.engine "validatingAdmissionPolicy") -}}
{{- fail "policy.signatures.required is true but policy.signatures.publicKeys is empty: add your cosign public key ({name: ci, pem: \"-----BEGIN PUBLIC KEY-----...\"}) or set policy.signatures.required=false" -}}
{{- end -}}
{{- if eq .Values.engine "webhook" -}}
{{- if and (not .Values.tls.certManager.enabled) (not .Values.tls.existingSecret) -}}
{{- fail "the webhook needs a serving certificate: set tls.certManager.enabled=true (cert-manager installed), or tls.existingSecret (a kubernetes.io/tls Secret) with tls.caBundle" -}}
{{- end -}}
{{- if and (not .Values.tls.certManager.enabled) (not .Values.tls.caBundle) -}}
{{- fail "tls.existingSecret is set but tls.caBundle is empty: the API server needs the CA that signed it (base64 PEM), e.g. --set tls.caBundle=$(base64 -w0 ca.crt)" -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.engine "validatingAdmissionPolicy") (semverCompare "<1.30.0-0" .Capabilities.KubeVersion.Version) -}}
{{- fail (printf "engine=validatingAdmissionPolicy needs Kubernetes >= 1.30 (admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy); this cluster is %s: use engine=webhook" .Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- end -}}
