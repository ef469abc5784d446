"""The chart's model-instance wiring: GLMTTS_INSTANCES and the queue-depth autoscaling targets."""

from __future__ import annotations

import pytest
from glm_tts_server.config import load_settings
from harness.helm import find, render_chart
from harness.paths import CHARTS

CHART = CHARTS / "glm-tts"


def _render(**values):
    return render_chart(CHART, values, helm=4)


def _server_config(objects) -> dict[str, str]:
    (config,) = find(objects, "ConfigMap", "glm-tts")
    return config["data"]


@pytest.mark.parametrize(
    ("per_gpu", "gpus", "expected"),
    [(1, 1, "1"), (3, 1, "3"), (2, 2, "4"), (2, 0, "2")],  # a CPU pod (count 0) counts as one device
)
def test_server_runs_instances_per_gpu_times_gpus(per_gpu, gpus, expected):
    data = _server_config(_render(gpu={"instancesPerGpu": per_gpu, "count": gpus}))
    assert data["GLMTTS_INSTANCES"] == expected
    # ...and the server accepts what the chart renders.
    env = {k: v for k, v in data.items() if k in ("GLMTTS_INSTANCES", "GLMTTS_WORKERS", "GLMTTS_QUEUE_SIZE")}
    assert load_settings(env=env).instances == int(expected)


@pytest.mark.parametrize("mode", ["hpa", "keda"])
def test_queue_depth_target_is_per_instance(mode):
    def target(per_gpu: int) -> str:
        objects = _render(
            gpu={"instancesPerGpu": per_gpu},
            autoscaling={"mode": mode, "metric": "queue", "targetQueueDepth": 3},
        )
        if mode == "hpa":
            (hpa,) = find(objects, "HorizontalPodAutoscaler")
            return hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"]
        (scaled,) = find(objects, "ScaledObject")
        return scaled["spec"]["triggers"][0]["metadata"]["threshold"]

    assert target(1) == "3"
    assert target(2) == "6"
