"""The chart's accountable-cloning wiring: the consent rule, audit log rotation, a log per pod, and a
data volume that outlives the pod."""

from __future__ import annotations

from glm_tts_server.config import load_settings
from harness.helm import find, render_chart
from harness.paths import CHARTS

CHART = CHARTS / "glm-tts"


def _render(**values):
    return render_chart(CHART, values, helm=4)


def _server(objects) -> tuple[dict, dict[str, str]]:
    (deployment,) = find(objects, "Deployment", "glm-tts")
    (config,) = find(objects, "ConfigMap", "glm-tts")
    pod = deployment["spec"]["template"]["spec"]
    (server,) = [c for c in pod["containers"] if c["name"] == "server"]
    return pod | {"server": server}, config["data"]


def test_defaults_require_consent_and_the_server_accepts_the_rendered_settings():
    _, data = _server(_render())
    assert data["GLMTTS_VOICE_CONSENT_REQUIRED"] == "true"
    settings = load_settings(env={k: v for k, v in data.items() if k.startswith("GLMTTS_AUDIT_LOG")})
    assert (settings.audit_log_max_bytes, settings.audit_log_backups) == (10485760, 5)


def test_values_reach_the_server():
    _, data = _server(
        _render(voiceCloning={"consentRequired": False, "auditLog": {"maxBytes": 4096, "backups": 0}})
    )
    env = {k: v for k, v in data.items() if k.startswith(("GLMTTS_VOICE", "GLMTTS_AUDIT"))}
    settings = load_settings(env=env)
    assert settings.voice_consent_required is False
    assert (settings.audit_log_max_bytes, settings.audit_log_backups) == (4096, 0)


def test_each_pod_writes_its_own_audit_file_on_the_data_volume():
    pod, _ = _server(_render())
    env = {e["name"]: e for e in pod["server"]["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    names = [e["name"] for e in pod["server"]["env"]]
    assert names.index("POD_NAME") < names.index("GLMTTS_AUDIT_LOG")  # $(POD_NAME) expands only then
    assert env["GLMTTS_AUDIT_LOG"]["value"] == "/data/audit/$(POD_NAME).jsonl"
    assert {"name": "data", "mountPath": "/data"} in pod["server"]["volumeMounts"]


def test_the_data_volume_is_an_emptydir_unless_a_claim_is_named():
    pod, _ = _server(_render())
    (data,) = [v for v in pod["volumes"] if v["name"] == "data"]
    assert "emptyDir" in data and "persistentVolumeClaim" not in data
    pod, _ = _server(_render(dataVolume={"existingClaim": "glm-tts-voices"}))
    (data,) = [v for v in pod["volumes"] if v["name"] == "data"]
    assert data == {"name": "data", "persistentVolumeClaim": {"claimName": "glm-tts-voices"}}
