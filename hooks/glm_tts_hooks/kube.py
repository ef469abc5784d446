"""Kubernetes API access for the hooks: client construction, timeouts, errors, paginated lists.

Requests go through the official client: its kubeconfig and in-cluster loaders (token refresh,
exec plugins, client certificates), its `Configuration` (auth headers, TLS, proxies) and its REST
layer (urllib3, retries, timeouts), by path; bodies come back as plain JSON dicts. The generated
`CoreV1Api`-style classes and `ApiClient` are not used: they load pydantic and hundreds of models,
and deserialising thousands of nodes into them costs seconds, while the checks only read fields.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import urllib3

from glm_tts_hooks import __version__
from glm_tts_hooks.kube_args import DEFAULT_REQUEST_TIMEOUT
from glm_tts_hooks.kube_client import (
    ApiException,
    ConfigException,
    Configuration,
    RESTClientObject,
    incluster_config,
    load_kube_config,
)

# Where a pod finds its service account; present means "we are in a pod".
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
DEFAULT_PAGE_SIZE = 500  # kubectl's chunk size
USER_AGENT = f"glm-tts-hooks/{__version__}"


class KubeError(Exception):
    """The API could not be asked: bad configuration, unreachable, 5xx, timeout (exit 2)."""


class Forbidden(Exception):
    """RBAC refused a request: a check failure that names the missing permission (exit 1)."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(f"cannot {what}: {message}")
        self.what = what
        self.message = message


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and SERVICE_ACCOUNT_TOKEN.exists()


def load_configuration(kubeconfig: str | None = None, context: str | None = None) -> Configuration:
    """In a pod (and nothing explicit asked): the service account; else the kubeconfig."""
    configuration = Configuration()
    try:
        if kubeconfig is None and context is None and in_cluster():
            incluster_config.load_incluster_config(client_configuration=configuration)
        else:
            path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
            load_kube_config(
                config_file=path, context=context, client_configuration=configuration, persist_config=False
            )
    except (ConfigException, OSError, ValueError) as exc:
        raise KubeError(
            f"no usable cluster configuration ({exc}); pass --kubeconfig PATH and --context NAME, "
            "set $KUBECONFIG, or run in a pod with a service account"
        ) from exc
    # Retry connecting, never a read: a read that timed out would time out again, and the
    # caller's overall deadline (and its error message) must stay honest.
    configuration.retries = urllib3.Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.2)
    return configuration


def configuration_from_args(args: argparse.Namespace) -> Configuration:
    return load_configuration(args.kubeconfig, args.context)


def path(template: str, *names: str) -> str:
    """An API path with each name escaped: path("/api/v1/namespaces/{}/pods/{}", ns, name)."""
    return template.format(*(quote(name, safe="") for name in names))


class Kube:
    """One timeout and one error translation for every request; JSON in, JSON out."""

    def __init__(
        self,
        configuration: Configuration,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self.configuration = configuration
        self.rest = RESTClientObject(configuration)
        self.timeout = request_timeout
        self.page_size = page_size

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.rest.close()

    @property
    def host(self) -> str:
        return str(self.configuration.host)

    def get(self, what: str, resource_path: str, **query: Any) -> dict[str, Any] | None:
        """GET a JSON body, or None on 404. `what` phrases the request for messages
        ("get runtimeclass nvidia")."""
        try:
            return self._request(what, "GET", resource_path, query)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise translate(what, exc) from exc

    def call(self, what: str, resource_path: str, **query: Any) -> dict[str, Any]:
        try:
            return self._request(what, "GET", resource_path, query)
        except ApiException as exc:
            raise translate(what, exc) from exc

    def create(self, what: str, resource_path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._request(what, "POST", resource_path, {}, body)
        except ApiException as exc:
            raise translate(what, exc) from exc

    def list_all(self, what: str, resource_path: str, **query: Any) -> Iterator[dict[str, Any]]:
        """Yield every item of a list, page by page (`limit`/`continue`), as kubectl does.

        A continue token expires after minutes (410 Gone); a list of a few pages takes a second,
        so an expiry is reported (exit 2, run again) rather than silently restarted.
        """
        token: str | None = None
        while True:
            page_query = dict(query, limit=self.page_size)
            if token:
                page_query["continue"] = token
            page = self.call(what, resource_path, **page_query)
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def _request(
        self,
        what: str,
        method: str,
        resource_path: str,
        query: dict[str, Any],
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        # The configuration's auth settings: the bearer token, refreshed by the loader's hook
        # (exec plugins, OIDC, projected service-account tokens) as ApiClient would apply it.
        for setting in self.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        params = {k: v for k, v in query.items() if v is not None}
        url = self.configuration.host + resource_path + (f"?{urlencode(params)}" if params else "")
        try:
            response = self.rest.request(
                method, url, headers=headers, body=body, _request_timeout=self.timeout
            )
            data = response.read()
        except urllib3.exceptions.HTTPError as exc:
            raise KubeError(_network_reason(what, self.host, self.timeout, exc)) from exc
        if not 200 <= response.status <= 299:
            raise ApiException(http_resp=response)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise KubeError(
                f"{what}: the API server at {self.host} answered with something that is not JSON"
            ) from exc


def translate(what: str, exc: ApiException) -> Exception:
    """Map an API error to Forbidden (a check result) or KubeError (exit 2), with the server's reason."""
    message = _status_message(exc)
    if exc.status == 403:
        return Forbidden(what, message)
    if exc.status == 401:
        return KubeError(
            f"{what}: the API server rejected the credentials (401 {message}); refresh the token "
            "or kubeconfig"
        )
    return KubeError(
        f"{what}: the API server answered {exc.status} {exc.reason or ''}: {message}".rstrip(": ")
    )


def _status_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or b"{}")
    except (TypeError, ValueError):
        body = {}
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or "no reason given")


def _network_reason(what: str, host: str, timeout: float, exc: urllib3.exceptions.HTTPError) -> str:
    cause = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    # NewConnectionError subclasses ConnectTimeoutError in urllib3, but means "refused", not "slow".
    timed_out = isinstance(
        cause, (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ConnectTimeoutError)
    )
    if timed_out and not isinstance(cause, urllib3.exceptions.NewConnectionError):
        return (
            f"{what}: the API server at {host} did not answer within {timeout:g} s; check the network "
            "path to the API server or raise --request-timeout"
        )
    return f"{what}: cannot reach the API server at {host} ({cause}); check the kubeconfig server address"
