"""Image-policy admission webhook: registry allow-list, digest pinning, denied tags, cosign signatures.

Serves AdmissionReview v1 (ValidatingWebhookConfiguration) on `/validate` and ImageReview
v1alpha1 (kube-apiserver ImagePolicyWebhook plugin) on `/imagereview`.
"""
