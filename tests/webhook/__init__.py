"""Image-policy webhook tests. `from webhook.cases import CASES` is the shared case table."""
