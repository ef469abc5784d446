"""The verify checks: rollout, readiness through the Service, one synthesis whose WAV is judged."""

from __future__ import annotations

import argparse
import time

import httpx

from glm_tts_hooks.report import Report, Status, emit_args
from glm_tts_hooks.verify.audio import (
    MAX_CLIPPED_FRACTION,
    MIN_PEAK_DBFS,
    MIN_RMS_DBFS,
    NotWav,
    analyse_wav,
    expected_duration,
)
from glm_tts_hooks.verify.service import error_detail, synthesize, wait_ready


def verify(args: argparse.Namespace, api_key: str | None) -> int:
    title = f"GLM-TTS verify: {args.url}"
    deadline = time.monotonic() + args.timeout
    report = Report()
    if args.deployment:
        from glm_tts_hooks.kube import KubeError  # the Kubernetes client loads only when asked for

        try:
            if not check_rollout(report, args, deadline):
                return emit_args(report, args, title=title)
        except KubeError as exc:
            report.error = str(exc)
            return emit_args(report, args, title=title)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=args.url.rstrip("/"), headers=headers) as http:
        if check_ready(report, http, deadline, args.poll_interval):
            check_synthesis(report, http, args, deadline)
    return emit_args(report, args, title=title)


def check_rollout(report: Report, args: argparse.Namespace, deadline: float) -> bool:
    from glm_tts_hooks.kube import Forbidden, Kube, configuration_from_args
    from glm_tts_hooks.verify.rollout import wait_for_rollout

    name, namespace = args.deployment, args.namespace
    with Kube(configuration_from_args(args), args.request_timeout) as kube:
        try:
            state = wait_for_rollout(kube, namespace, name, deadline, args.poll_interval)
        except Forbidden as exc:
            report.add(
                "rollout",
                Status.FAIL,
                str(exc),
                f'grant get on deployments (apiGroups ["apps"]) in {namespace} to the verify ServiceAccount',
            )
            return False
    if state is None:
        report.add(
            "rollout",
            Status.FAIL,
            f"Deployment {name} not found in {namespace}",
            "check --deployment/--namespace against helm status (kubectl get deploy -n NAMESPACE)",
        )
        return False
    if state.done:
        report.add("rollout", Status.PASS, state.detail)
        return True
    fix = (
        f"kubectl -n {namespace} describe deploy/{name}; kubectl -n {namespace} get pods; look for "
        "Pending (GPU capacity: run preflight), ImagePullBackOff or CrashLoopBackOff"
    )
    waited = "stuck" if state.stuck else f"not complete within {args.timeout:g} s"
    report.add("rollout", Status.FAIL, f"{waited}: {state.detail}", fix)
    return False


def check_ready(report: Report, http: httpx.Client, deadline: float, poll: float) -> bool:
    ready, answer, waited = wait_ready(http, deadline, poll)
    if ready:
        report.add("readyz", Status.PASS, f"GET /readyz answered {answer} after {waited:.1f} s")
        return True
    report.add(
        "readyz",
        Status.FAIL,
        f"GET {http.base_url}/readyz never answered 200 (last: {answer})",
        "check the Service selector and port (kubectl get endpoints), the pod's readiness probe "
        "and its logs (model still loading? raise --timeout)",
    )
    return False


def check_synthesis(report: Report, http: httpx.Client, args: argparse.Namespace, deadline: float) -> None:
    try:
        result = synthesize(http, args.text, args.voice, deadline)
    except httpx.HTTPError as exc:
        report.add(
            "synthesis",
            Status.FAIL,
            f"POST /v1/tts failed: {type(exc).__name__}: {exc}",
            "check the pod logs; raise --timeout if synthesis is slow",
        )
        return
    report.figures["latency_s"] = round(result.latency, 3)
    if result.status != 200:
        report.add(
            "synthesis",
            Status.FAIL,
            f"POST /v1/tts answered {result.status}: {error_detail(result)}",
            "401/403: pass --api-key-file; 429/503: the service is saturated or out of GPU memory; "
            "otherwise see the pod logs",
        )
        return
    report.add(
        "synthesis",
        Status.PASS,
        f"POST /v1/tts answered 200 ({len(result.body)} bytes, "
        f"{result.content_type or 'no content type'}) in {result.latency:.2f} s",
    )
    try:
        wav = analyse_wav(result.body)
    except NotWav as exc:
        report.add(
            "wav-format",
            Status.FAIL,
            str(exc),
            "the service must return audio/wav for response_format=wav: check the image version",
        )
        return
    report.add(
        "wav-format", Status.PASS, f"RIFF/WAVE {wav.subtype}, {wav.channels} channel(s), {wav.frames} frames"
    )

    header_rate = result.headers.get("x-sample-rate")
    if wav.sample_rate != args.expect_sample_rate:
        report.add(
            "sample-rate",
            Status.FAIL,
            f"{wav.sample_rate} Hz, expected {args.expect_sample_rate} Hz",
            "set GLMTTS_SAMPLE_RATE / the chart's sampleRate to match, or pass --expect-sample-rate",
        )
    elif header_rate and header_rate != str(wav.sample_rate):
        report.add(
            "sample-rate",
            Status.WARN,
            f"WAV says {wav.sample_rate} Hz but X-Sample-Rate says {header_rate}",
            "the service's headers disagree with its audio: report it as a service bug",
        )
    else:
        report.add("sample-rate", Status.PASS, f"{wav.sample_rate} Hz")

    bounds = expected_duration(args.text)
    duration = wav.duration
    report.figures["audio_s"] = round(duration, 3)
    synthesis_s = _float_header(result.headers.get("x-synthesis-seconds")) or result.latency
    if duration > 0:
        report.figures["real_time_factor"] = round(synthesis_s / duration, 3)
    detail = f"{duration:.2f} s for {len(args.text)} characters (plausible: {bounds.low:g}-{bounds.high:g} s)"
    claimed = _float_header(result.headers.get("x-audio-duration-seconds"))
    if bounds.low <= duration <= bounds.high:
        rtf = report.figures.get("real_time_factor")
        detail += f"; real-time factor {rtf:g}" if rtf is not None else ""
        # Half a 20 ms frame of slack for rounding; more means the metrics the service reports lie.
        if claimed is not None and abs(claimed - duration) > 0.01 + 0.01 * duration:
            report.add(
                "duration",
                Status.WARN,
                f"{detail}; but X-Audio-Duration-Seconds says {claimed:g} s",
                "the service's headers disagree with its audio: report it as a service bug",
            )
        else:
            report.add("duration", Status.PASS, detail)
    else:
        why = "truncated audio" if duration < bounds.low else "runaway generation or long silences"
        report.add(
            "duration",
            Status.FAIL,
            f"{detail}: {why}",
            "listen to the output; check the model/vocoder weights and the text normalisation",
        )

    loud = f"RMS {wav.rms_dbfs:.1f} dBFS, peak {wav.peak_dbfs:.1f} dBFS"
    if wav.rms_dbfs < MIN_RMS_DBFS or wav.peak_dbfs < MIN_PEAK_DBFS:
        report.add(
            "not-silence",
            Status.FAIL,
            f"{loud}: silence (needs RMS >= {MIN_RMS_DBFS:g} and peak >= {MIN_PEAK_DBFS:g} dBFS)",
            "the model produced no speech: check the weights, the voice prompt and the GPU (cuda-check)",
        )
    elif wav.clipped_fraction > MAX_CLIPPED_FRACTION:
        report.add(
            "not-silence",
            Status.WARN,
            f"{loud}; {wav.clipped_fraction:.1%} of samples clipped",
            "audio is distorted: check the vocoder and the output gain",
        )
    else:
        report.add("not-silence", Status.PASS, loud)


def _float_header(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
