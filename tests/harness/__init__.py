"""Test harness shared by every suite: real helm, Kubernetes and Tekton schemas, a kmock cluster."""
