#!/usr/bin/env python3
"""`make demo`: start the service with the CPU (eSpeak NG) backend, synthesise one mixed
Chinese/English sentence into <out>/demo.wav (native API) and <out>/demo.mp3 (OpenAI-compatible
API), report duration and real-time factor, stop the service with SIGTERM as Kubernetes would,
and say what to try next.

It needs only the service's own dependencies (`pip install -e inference`: no torch, no test tools).

Exit codes: 0 success, 1 the demo failed (the message and the server log say why).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

TEXT = "<zh>你好</zh>, this is GLM-TTS on Kubernetes. 今天天气很好。"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class DemoFailed(RuntimeError):
    pass


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command() -> list[str]:
    # The console script next to this interpreter (the venv's), else the module itself.
    script = Path(sys.executable).with_name("glm-tts-server")
    if script.exists():
        return [str(script), "serve"]
    found = shutil.which("glm-tts-server")
    return [found, "serve"] if found else [sys.executable, "-m", "glm_tts_server.cli", "serve"]


def wait_ready(url: str, proc: subprocess.Popen) -> float:
    started = time.monotonic()
    while time.monotonic() - started < READY_TIMEOUT_S:
        if proc.poll() is not None:
            raise DemoFailed(f"the server exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise DemoFailed(f"the server was not ready after {READY_TIMEOUT_S:.0f} s")


def post(url: str, path: str, body: dict) -> tuple[bytes, dict[str, str]]:
    request = urllib.request.Request(  # noqa: S310 - our own loopback URL
        f"{url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback
            return response.read(), {name.lower(): value for name, value in response.headers.items()}
    except urllib.error.HTTPError as exc:
        raise DemoFailed(f"POST {path} answered {exc.code}: {exc.read().decode(errors='replace')}") from None


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise DemoFailed(f"the server did not exit within {STOP_TIMEOUT_S:.0f} s of SIGTERM") from None


def run(out: Path, text: str) -> None:
    import soundfile as sf

    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLMTTS_")}
    env.update(
        GLMTTS_BACKEND="espeak",
        GLMTTS_HOST="127.0.0.1",
        GLMTTS_PORT=str(port),
        GLMTTS_DATA_DIR=str(out / "data"),
        GLMTTS_LOG_LEVEL="warning",
        GLMTTS_DRAIN_TIMEOUT_S="10",
    )
    log_path = out / "server.log"
    command = server_command()
    step(
        f"starting {' '.join(Path(command[0]).name if i == 0 else c for i, c in enumerate(command))} "
        f"(espeak backend) on {url}"
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        step(f"ready after {wait_ready(url, proc):.1f} s")
        step(f"synthesising: {text}")
        body, headers = post(url, "/v1/tts", {"text": text})
        wav = out / "demo.wav"
        wav.write_bytes(body)
        info = sf.info(str(wav))
        if info.samplerate != int(headers["x-sample-rate"]) or info.duration <= 0:
            raise DemoFailed(f"{wav} is not the audio the server described: {info}")
        took = float(headers["x-synthesis-seconds"])
        step(
            f"wrote {wav}: {info.duration:.2f} s of audio at {info.samplerate} Hz, synthesised in "
            f"{took:.3f} s (real-time factor {took / info.duration:.3f})"
        )
        mp3, headers = post(url, "/v1/audio/speech", {"model": "glm-tts", "input": text, "voice": "alloy"})
        if headers.get("content-type") != "audio/mpeg" or not mp3:
            raise DemoFailed(f"POST /v1/audio/speech did not answer with mp3: {headers.get('content-type')}")
        (out / "demo.mp3").write_bytes(mp3)
        step(f"wrote {out / 'demo.mp3'} through the OpenAI-compatible API ({len(mp3) / 1024:.0f} KiB)")
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        print(
            f"--- server log ({log_path}) ---\n{log_path.read_text(errors='replace')[-4000:]}",
            file=sys.stderr,
        )
        raise
    step("stopping the server with SIGTERM")
    code = stop(proc)
    if code != 0:
        raise DemoFailed(f"the server exited with code {code} after SIGTERM; see {log_path}")
    step("done")
    print(next_steps(), flush=True)


def next_steps() -> str:
    bin_dir = Path(sys.executable).parent
    serve = f"{bin_dir / 'glm-tts-server'} serve --host 127.0.0.1 --port 8080"
    return f"""
Next:
  1. Run the service:         {serve}
     (or `make serve`; settings: `glm-tts-server serve --help`)
  2. Open the web page:       http://127.0.0.1:8080/   (speak, clone a voice from a clip, run a batch)
  3. Try it with curl:
       curl -s http://127.0.0.1:8080/v1/audio/speech -H 'Content-Type: application/json' \\
         -d '{{"model": "glm-tts", "input": "Hello from GLM-TTS.", "voice": "alloy"}}' -o hello.mp3
  4. Or with the OpenAI Python client (pip install openai):
       from openai import OpenAI
       client = OpenAI(base_url="http://127.0.0.1:8080/v1", api_key="unused")
       client.audio.speech.create(model="glm-tts", voice="alloy", input="Hello!").write_to_file("hello.mp3")
  5. On a GPU, with the real GLM-TTS model: see inference/README.md ("Run on a GPU") for the image and
     `glm-tts-server serve --backend glmtts`, or deploy the chart: helm install glm-tts charts/glm-tts
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="output directory")
    parser.add_argument("--text", default=TEXT, help="text to speak")
    args = parser.parse_args(argv)
    try:
        run(args.out, args.text)
    except (DemoFailed, OSError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
