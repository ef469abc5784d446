"""The parts of the official `kubernetes` client the hooks use, loaded without the rest.

`kubernetes.client` loads its API classes and models lazily, but the packages around it do not:
`import kubernetes` imports the dynamic client, watch, stream, leader election and informers,
`kubernetes.config` imports the kubeconfig loader with its OAuth libraries even in a pod, and
`kubernetes.utils` imports the YAML applier. The hooks need the client's transport
(`Configuration`, the REST layer `rest.RESTClientObject`, exceptions), one of the two config
loaders and `parse_quantity`. Not `ApiClient`: its (de)serialisation brings pydantic, and the hooks
send paths and read plain JSON; only the kubeconfig loader imports it.

Those three package `__init__` files are deferred, not skipped: each package gets its real module
object (from its real spec) whose `__init__` runs the first time anything not yet loaded is asked
of it (PEP 562 `__getattr__`). Other code that later does `from kubernetes import watch` or
`kubernetes.config.load_kube_config` gets the whole package, exactly as before.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

_DEFERRED_PACKAGES = ("kubernetes", "kubernetes.config", "kubernetes.utils")


def _defer_init(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"{name} is not installed (pip install 'glm-tts-hooks[cluster]')")
    module = importlib.util.module_from_spec(spec)  # __path__ set, __init__ not yet run

    def finish_init(attr: str) -> Any:
        del module.__dict__["__getattr__"]
        spec.loader.exec_module(module)
        return getattr(module, attr)

    module.__getattr__ = finish_init  # type: ignore[method-assign]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


for _name in _DEFERRED_PACKAGES:
    _defer_init(_name)

from kubernetes.client.configuration import Configuration  # noqa: E402 - after the deferral
from kubernetes.client.exceptions import ApiException  # noqa: E402
from kubernetes.client.rest import RESTClientObject  # noqa: E402
from kubernetes.config.config_exception import ConfigException  # noqa: E402
from kubernetes.utils.quantity import parse_quantity  # noqa: E402

# Not `from kubernetes.config import incluster_config`: that asks the deferred package for the name.
incluster_config = importlib.import_module("kubernetes.config.incluster_config")


def load_kube_config(**kwargs: Any) -> None:
    """`kubernetes.config.load_kube_config`, imported on first use: in a pod the service account
    is enough, and the kubeconfig loader brings the OAuth libraries."""
    importlib.import_module("kubernetes.config.kube_config").load_kube_config(**kwargs)


__all__ = [
    "ApiException",
    "ConfigException",
    "Configuration",
    "RESTClientObject",
    "incluster_config",
    "parse_quantity",
]
