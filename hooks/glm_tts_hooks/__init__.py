"""Cluster-side glue for GLM-TTS: GPU preflight, CUDA check, post-install verify, image-policy webhook."""

__version__ = "0.1.0"
