#!/usr/bin/env python3
"""Image-policy webhook latency under load, on loopback.

Pods with 5 containers (5 distinct signed images in a real docker-registry) are reviewed at a
fixed 200 requests/s for 10 s, open loop: each request's latency counts from when it was due to
be sent, so a stalled server cannot hide its queue (no coordinated omission).
  phase "cached":   signature verdicts cached (TTL 300 s)      target p99 < 20 ms
  phase "uncached": TTL 0, every review looks signatures up     target p99 < 200 ms
                    in the registry (signature manifests each time; payload blobs are
                    immutable and kept by digest; concurrent look-ups of one image coalesce)
The webhook runs as its own process (`glm-tts-hooks image-policy serve`), as in the cluster.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the webhook test helpers

from image_policy import oci
from image_policy.cases import request_body
from image_policy.pki import CertificateAuthority
from image_policy.registry_fixture import REGISTRY_BINARY, LocalRegistry

RATE = 200  # requests per second
DURATION = 10.0  # seconds per phase
WARMUP = 1.0
CONTAINERS = 5
CLIENT_THREADS = 48
TARGETS_MS = {"cached": 20.0, "uncached": 200.0}
CLI_CODE = "import sys; from glm_tts_hooks.cli import main; sys.exit(main(sys.argv[1:]))"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_webhook(workdir: Path, policy: dict, ca_pem: str) -> tuple[subprocess.Popen, str]:
    policy_file = workdir / f"policy-{policy['signatures']['cacheTTLSeconds']}.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    port = free_port()
    argv = [
        sys.executable,
        "-c",
        CLI_CODE,
        "image-policy",
        "serve",
        "--cert",
        str(workdir / "tls.crt"),
        "--key",
        str(workdir / "tls.key"),
        "--policy",
        str(policy_file),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "WARNING",
    ]
    proc = subprocess.Popen(argv)
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/healthz", verify=_ssl(ca_pem), timeout=1)
            return proc, url
        except httpx.TransportError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("webhook did not start")


def _ssl(ca_pem: str):
    import ssl

    return ssl.create_default_context(cadata=ca_pem)


def run_phase(url: str, body: bytes, ca_pem: str) -> dict:
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, verify=_ssl(ca_pem), timeout=10)
            with lock:
                clients.append(local.client)
        return local.client

    def one(due: float) -> tuple[float, bool]:
        response = client().post("/validate", content=body, headers={"Content-Type": "application/json"})
        ok = response.status_code == 200 and response.json()["response"]["allowed"] is True
        return time.perf_counter() - due, ok

    latencies, failures = [], 0
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        for warm in [pool.submit(one, time.perf_counter()) for _ in range(CLIENT_THREADS)]:
            warm.result()  # connections up, TLS done, caches warm
        time.sleep(WARMUP)
        start = time.perf_counter()
        futures = []
        total = int(RATE * DURATION)
        for i in range(total):
            due = start + i / RATE
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(one, due))
        for future in futures:
            latency, ok = future.result()
            latencies.append(latency * 1000)
            failures += not ok
        elapsed = time.perf_counter() - start
    for c in clients:
        c.close()
    latencies.sort()
    return {
        "requests": len(latencies),
        "rate": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[int(0.99 * (len(latencies) - 1))],
        "max": latencies[-1],
        "failures": failures,
    }


def registry_lookups(url: str, ca_pem: str) -> float:
    """How many signature look-ups reached the registry (the rest were cached or coalesced)."""
    metrics = httpx.get(f"{url}/metrics", verify=_ssl(ca_pem), timeout=5).text
    prefix = "glm_tts_image_policy_signature_checks_total{"
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(prefix))


def main() -> int:
    binary = subprocess.run(["sh", "-c", f"command -v {REGISTRY_BINARY}"], capture_output=True, text=True)
    if binary.returncode:
        print(f"skipped: {REGISTRY_BINARY} is not installed (make sysdeps)")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        workdir = Path(tmp)
        ca = CertificateAuthority.create()
        ca.issue(workdir / "tls.crt", workdir / "tls.key")
        ca_pem = ca.pem().decode()
        (workdir / "registry").mkdir()
        registry = LocalRegistry(binary.stdout.strip(), workdir / "registry")
        registry.start()
        procs = []
        try:
            key = ec.generate_private_key(ec.SECP256R1())
            pusher = oci.OciPusher(registry.url)
            images = []
            for i in range(CONTAINERS):
                repo = f"glm-tts/component-{i}"
                digest, _ = pusher.image(repo, f"bench-{i}")
                oci.sign_sig_tag(pusher, repo, f"{registry.host}/{repo}", digest, key)
                images.append(f"{registry.host}/{repo}@{digest}")
            pusher.close()
            case = {
                "api": "AdmissionReview",
                "kind": "Pod",
                "namespace": "glm-tts",
                "images": {"containers": images},
            }
            body = request_body(case)
            pem = (
                key.public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                .decode()
            )

            print(
                f"{CONTAINERS} containers per pod, {RATE} requests/s for {DURATION:g} s per phase, "
                f"open loop, {os.cpu_count()} CPUs shared by client, webhook and registry; "
                f"load average before the run {os.getloadavg()[0]:.1f} (other work on the machine "
                "shows up in p99)"
            )
            failures = 0
            for phase, ttl in (("cached", 300), ("uncached", 0)):
                policy = {
                    "allowedRegistries": [f"{registry.host}/glm-tts/"],
                    "signatures": {
                        "required": True,
                        "publicKeys": [{"name": "ci", "pem": pem}],
                        "cacheTTLSeconds": ttl,
                        "timeoutSeconds": 3,
                        "insecureRegistries": [registry.host],
                    },
                }
                proc, url = start_webhook(workdir, policy, ca_pem)
                procs.append(proc)
                result = run_phase(url, body, ca_pem)
                result["registry_lookups"] = registry_lookups(url, ca_pem)
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=10)
                target = TARGETS_MS[phase]
                ratio = result["p99"] / target
                print(
                    json.dumps(
                        {
                            "phase": phase,
                            **{k: round(v, 2) for k, v in result.items()},
                            "target_p99_ms": target,
                            "p99_to_target": round(ratio, 3),
                        }
                    )
                )
                print(
                    f"  {phase:8s} p50 {result['p50']:7.2f} ms  p99 {result['p99']:7.2f} ms  "
                    f"(target {target:g} ms, ratio {ratio:.2f}: {'met' if ratio < 1 else 'MISSED'})  "
                    f"{result['rate']:.0f} req/s achieved, {result['failures']} failures, "
                    f"{result['registry_lookups']:.0f} signature look-ups reached the registry"
                )
                failures += result["failures"]
            return 1 if failures else 0
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            registry.stop()


if __name__ == "__main__":
    sys.exit(main())
