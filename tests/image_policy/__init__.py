"""Image-policy webhook tests. `from image_policy.cases import CASES` is the shared case table."""
