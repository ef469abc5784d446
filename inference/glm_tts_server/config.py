"""Service settings: `GLMTTS_*` environment variables over an optional YAML file.

Precedence: defaults < YAML file (path from `config_file` or `GLMTTS_CONFIG`) < environment.
An unknown key in the file or a value of the wrong type is an error that names the key, so a
typo in a Helm value never silently falls back to a default. Unknown `GLMTTS_*` environment
variables are ignored (the container may carry unrelated ones), except that they are logged.

Secrets (`api_key`, `admin_token`) are `pydantic.SecretStr`: they never appear in `repr`,
logs or `model_dump_json`; read them with `settings.api_key.get_secret_value()`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from glm_tts_server.constants import CONFIG_FILE_ENV, DEFAULT_SAMPLE_RATE, ENV_PREFIX, HTTP_PORT

log = logging.getLogger(__name__)

BUILTIN_BACKENDS = ("espeak", "glmtts")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key and what to fix."""


class Settings(BaseModel):
    """Everything the service, the CLI and the backends read from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    backend: str = "espeak"
    """`espeak`, `glmtts`, or `package.module:Class` implementing `backends.base.Backend`."""
    sample_rate: PositiveInt = DEFAULT_SAMPLE_RATE
    code_dir: Path | None = None
    """Checkout of upstream GLM-TTS (glmtts backend)."""
    model_dir: Path | None = None
    """Directory holding upstream's `ckpt/` layout (glmtts backend)."""
    device: str = "cuda"
    data_dir: Path = Path("./data")
    """Registered voices and batch outputs."""
    g2p_dict: Path | None = None
    """Pronunciation override JSONL, reloaded when the file changes."""
    host: str = "0.0.0.0"  # noqa: S104 - a container listens on all its interfaces
    port: Annotated[int, Field(gt=0, lt=65536)] = HTTP_PORT
    workers: PositiveInt = 1
    """Concurrent syntheses per process (per GPU)."""
    instances: PositiveInt = 1
    """Model instances, each in its own worker process (1 = in-process, no pool); see inference/README.md."""
    queue_size: Annotated[int, Field(ge=0)] = 16
    request_timeout_s: PositiveFloat = 120.0
    max_input_chars: PositiveInt = 2000
    max_upload_bytes: PositiveInt = 10 * 1024 * 1024
    failure_threshold: PositiveInt = 5
    drain_timeout_s: Annotated[float, Field(ge=0)] = 30.0
    body_timeout_s: PositiveFloat = 30.0
    """Seconds a client has to send a whole request body (408 after that)."""
    batch_max_active: PositiveInt = 2
    """Batch jobs queued or running at once; one more is answered 429."""
    batch_max_lines: PositiveInt = 10000
    batch_retention_hours: PositiveFloat = 24.0
    """A finished batch job's outputs are deleted this long after it ended."""
    api_key: SecretStr | None = None
    admin_token: SecretStr | None = None
    default_voice: str | None = None
    log_level: str = "info"
    # Accountable voice cloning (see audit.py): who registered a voice, with what consent.
    voice_consent_required: bool = True
    """Registering a voice needs a consent statement (the `consent` form field)."""
    audit_log: Path | None = None
    """JSON-lines audit of cloned-voice use; default `<data_dir>/audit/voice-audit.jsonl`."""
    audit_log_max_bytes: PositiveInt = 10 * 1024 * 1024
    audit_log_backups: Annotated[int, Field(ge=0)] = 5
    api_key_name: str = "api-key"
    """The caller recorded in the audit log for requests authenticated by `api_key`."""

    @field_validator("backend")
    @classmethod
    def _backend_known(cls, value: str) -> str:
        value = value.strip()
        if value in BUILTIN_BACKENDS:
            return value
        module, sep, attr = value.partition(":")
        if not sep or not module or not attr:
            raise ValueError(
                f"must be one of {', '.join(BUILTIN_BACKENDS)} or 'package.module:Class', got {value!r}"
            )
        return value

    @field_validator("port", mode="before")
    @classmethod
    def _not_a_service_link(cls, value: Any) -> Any:
        # A Service named "glmtts" makes the kubelet inject GLMTTS_PORT=tcp://10.0.0.1:8080.
        if isinstance(value, str) and "://" in value:
            raise ValueError(
                f"{value!r} looks like a Kubernetes service link variable (a Service named "
                "'glmtts'): set enableServiceLinks: false on the pod or rename the Service"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level_known(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
        return value

    @field_validator(
        "api_key",
        "admin_token",
        "default_voice",
        "code_dir",
        "model_dir",
        "g2p_dict",
        "audit_log",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # An empty env var (`GLMTTS_API_KEY=`) from a Helm template means "not set".
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def audit_log_path(self) -> Path:
        return self.audit_log or self.data_dir / "audit" / "voice-audit.jsonl"


FIELDS = tuple(Settings.model_fields)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: not valid YAML ({exc})") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path}: expected a mapping of settings, got {type(loaded).__name__}")
    unknown = sorted(str(k) for k in loaded if k not in FIELDS)
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(FIELDS)}"
        )
    return loaded


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_FILE_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key in FIELDS:
            values[key] = value
        else:
            log.warning("ignoring unknown environment variable %s", name)
    return values


def _describe(exc: ValidationError, origin: dict[str, str]) -> str:
    problems = []
    for err in exc.errors():
        key = str(err["loc"][0]) if err["loc"] else "?"
        where = origin.get(key, key)
        msg = err["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {msg}")
    return "invalid configuration: " + "; ".join(problems)


def load_settings(
    env: Mapping[str, str] | None = None, config_file: str | os.PathLike[str] | None = None
) -> Settings:
    """Build Settings from `env` (default `os.environ`) over the YAML file, if any."""
    env = os.environ if env is None else env
    path_value = config_file if config_file is not None else env.get(CONFIG_FILE_ENV) or None
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if path_value is not None:
        path = Path(path_value)
        values.update(_read_file(path))
        origin.update({k: f"{k} (in {path})" for k in values})
    env_values = _from_env(env)
    values.update(env_values)
    origin.update({k: f"{ENV_PREFIX}{k.upper()}" for k in env_values})
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None
