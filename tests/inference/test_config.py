"""Settings: defaults, YAML file, environment precedence, errors that name the key, hidden secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from glm_tts_server.config import ConfigError, Settings, load_settings
from glm_tts_server.constants import DEFAULT_SAMPLE_RATE, HTTP_PORT


def test_defaults_follow_the_contract():
    s = load_settings({})
    assert s.backend == "espeak"
    assert s.sample_rate == DEFAULT_SAMPLE_RATE and s.port == HTTP_PORT
    assert s.data_dir == Path("./data") and s.workers == 1 and s.queue_size == 16
    assert s.api_key is None and s.admin_token is None and s.log_level == "info"


def test_env_overrides_file_and_types_are_coerced(tmp_path):
    cfg = tmp_path / "glmtts.yaml"
    cfg.write_text("port: 9000\nworkers: 3\nmax_input_chars: 500\nbackend: glmtts\n")
    s = load_settings({"GLMTTS_CONFIG": str(cfg), "GLMTTS_PORT": "9100", "GLMTTS_MODEL_DIR": "/models"})
    assert s.port == 9100  # env wins
    assert s.workers == 3 and s.max_input_chars == 500 and s.backend == "glmtts"
    assert s.model_dir == Path("/models")
    assert load_settings({}, config_file=cfg).port == 9000


def test_unknown_file_key_is_an_error_naming_it(tmp_path):
    cfg = tmp_path / "glmtts.yaml"
    cfg.write_text("port: 9000\nqueue_sise: 3\n")
    with pytest.raises(ConfigError, match="queue_sise"):
        load_settings({}, config_file=cfg)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GLMTTS_PORT", "eighty"),
        ("GLMTTS_PORT", "70000"),
        ("GLMTTS_WORKERS", "0"),
        ("GLMTTS_LOG_LEVEL", "loud"),
        ("GLMTTS_BACKEND", "tensorrt"),
        ("GLMTTS_SAMPLE_RATE", "-1"),
    ],
)
def test_bad_env_value_names_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_bad_file_value_names_key_and_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("request_timeout_s: soon\n")
    with pytest.raises(ConfigError, match=r"request_timeout_s \(in .*c\.yaml\)"):
        load_settings({}, config_file=cfg)


def test_unreadable_or_non_mapping_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({}, config_file=tmp_path / "absent.yaml")
    cfg = tmp_path / "list.yaml"
    cfg.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings({}, config_file=cfg)


def test_custom_backend_path_and_empty_optional_values():
    s = load_settings(
        {"GLMTTS_BACKEND": "my_pkg.slow:SlowBackend", "GLMTTS_API_KEY": "", "GLMTTS_DEFAULT_VOICE": " "}
    )
    assert s.backend == "my_pkg.slow:SlowBackend"
    assert s.api_key is None and s.default_voice is None


def test_secrets_never_show_in_repr_or_dumps():
    s = load_settings({"GLMTTS_API_KEY": "key-123-secret", "GLMTTS_ADMIN_TOKEN": "adm-456-secret"})
    for text in (repr(s), str(s), s.model_dump_json()):
        assert "key-123-secret" not in text and "adm-456-secret" not in text
    assert s.api_key.get_secret_value() == "key-123-secret"
    assert s.admin_token.get_secret_value() == "adm-456-secret"


def test_unknown_env_var_is_ignored_not_fatal(caplog):
    s = load_settings({"GLMTTS_SOMETHING_ELSE": "1", "PATH": "/bin"})
    assert isinstance(s, Settings)
    assert "GLMTTS_SOMETHING_ELSE" in caplog.text


def test_kubernetes_service_link_port_gets_a_specific_hint():
    with pytest.raises(ConfigError, match="enableServiceLinks: false"):
        load_settings({"GLMTTS_PORT": "tcp://10.96.0.12:8080"})
