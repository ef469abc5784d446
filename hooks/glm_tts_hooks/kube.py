"""Kubernetes API access for the hooks: client construction, timeouts, errors, paginated lists.

Objects come back as plain JSON dicts (`_preload_content=False` + `json.loads`): deserialising
thousands of nodes into the client's model classes costs seconds, and the checks only read fields.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

# Where a pod finds its service account; present means "we are in a pod".
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
DEFAULT_REQUEST_TIMEOUT = 10.0
DEFAULT_PAGE_SIZE = 500  # kubectl's chunk size


class KubeError(Exception):
    """The API could not be asked: bad configuration, unreachable, 5xx, timeout (exit 2)."""


class Forbidden(Exception):
    """RBAC refused a request: a check failure that names the missing permission (exit 1)."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(f"cannot {what}: {message}")
        self.what = what
        self.message = message


def positive_seconds(text: str) -> float:
    """argparse type for timeouts and intervals."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 seconds")
    return value


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cluster connection (in-cluster config when run in a pod)")
    group.add_argument(
        "--kubeconfig", metavar="PATH", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    group.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current context)")
    group.add_argument(
        "--request-timeout",
        metavar="SECONDS",
        type=positive_seconds,
        default=DEFAULT_REQUEST_TIMEOUT,
        help=f"timeout of each API request (default: {DEFAULT_REQUEST_TIMEOUT:g})",
    )


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and SERVICE_ACCOUNT_TOKEN.exists()


def load_api_client(kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    """In a pod (and nothing explicit asked): the service account; else the kubeconfig."""
    configuration = client.Configuration()
    try:
        if kubeconfig is None and context is None and in_cluster():
            config.load_incluster_config(client_configuration=configuration)
        else:
            path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
            config.load_kube_config(
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
    return client.ApiClient(configuration)


def api_client_from_args(args: argparse.Namespace) -> client.ApiClient:
    return load_api_client(args.kubeconfig, args.context)


class Kube:
    """A thin wrapper that applies one timeout and one error translation to every call."""

    def __init__(
        self,
        api_client: client.ApiClient,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self.api_client = api_client
        self.timeout = request_timeout
        self.page_size = page_size
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.storage = client.StorageV1Api(api_client)
        self.node = client.NodeV1Api(api_client)
        self.authorization = client.AuthorizationV1Api(api_client)
        self.version = client.VersionApi(api_client)

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host)

    def get(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """Call a read method, return its JSON body, or None on 404. `what` phrases the request
        for messages ("get runtimeclass nvidia")."""
        try:
            return self._json(what, fn, *args, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise translate(what, exc) from exc

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return self._json(what, fn, *args, **kwargs)
        except ApiException as exc:
            raise translate(what, exc) from exc

    def list_all(
        self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Yield every item of a list, page by page (`limit`/`continue`), as kubectl does.

        A continue token expires after minutes (410 Gone); a list of a few pages takes a second,
        so an expiry is reported (exit 2, run again) rather than silently restarted.
        """
        token: str | None = None
        while True:
            page_kwargs = dict(kwargs, limit=self.page_size)
            if token:
                page_kwargs["_continue"] = token
            page = self.call(what, fn, *args, **page_kwargs)
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def _json(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            response = fn(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
        except urllib3.exceptions.HTTPError as exc:
            raise KubeError(_network_reason(what, self.host, self.timeout, exc)) from exc
        try:
            return json.loads(response.data)
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
