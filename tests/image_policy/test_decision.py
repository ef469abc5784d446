"""One admission decision: findings per container, their order and messages, and the signature path.

The registry is replaced by a verifier that answers from a table and records what it was asked, so
these tests pin down which images are sent for a signature check, with which keys and deadline, what
a refusal says, and when a cached verdict is reused (or, after a key rotation, is not).
"""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from glm_tts_hooks.image_policy.cache import VerdictCache
from glm_tts_hooks.image_policy.decision import (
    CONTAINER,
    EPHEMERAL_CONTAINER,
    INIT_CONTAINER,
    ContainerImage,
    Decider,
    Decision,
)
from glm_tts_hooks.image_policy.metrics import WebhookMetrics
from glm_tts_hooks.image_policy.policy import PolicyStore
from glm_tts_hooks.image_policy.registry import RegistryUnavailable
from glm_tts_hooks.image_policy.signatures import SignatureVerdict

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
SIGNED = SignatureVerdict(True, "signed with key 'ci' (sig-tag)", "ci", "sig-tag")
UNSIGNED = SignatureVerdict(False, "no cosign signature found in the registry")


def _pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


CI_PEM, RELEASE_PEM = _pem(), _pem()


class Verifier:
    """Answers verify() from `outcomes` (image name@digest -> verdict or exception) and records the calls."""

    def __init__(self, outcomes: dict | None = None) -> None:
        self.registry = SimpleNamespace(insecure_registries=frozenset())
        self.outcomes = outcomes or {}
        self.calls: list[tuple[str, tuple[str, ...], float, str]] = []
        self.deadlines: list[object] = []

    def verify(self, ref, keys, deadline):
        self.calls.append(
            (str(ref), tuple(k.name for k in keys), deadline.seconds, threading.current_thread().name)
        )
        self.deadlines.append(deadline)
        outcome = self.outcomes[f"{ref.name}@{ref.digest}"]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    @property
    def asked(self) -> list[str]:
        return sorted(call[0] for call in self.calls)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Policies:
    """A policy file on disk behind a real PolicyStore; rewrite() changes it the way a ConfigMap does."""

    def __init__(self, path) -> None:
        self.path, self.version = path, 0

    def rewrite(self, **keys) -> None:
        doc = {"allowedRegistries": ["a.io", "b.io/team/"], "exemptNamespaces": ["kube-system"], **keys}
        self.path.write_text(yaml.safe_dump(doc))
        self.version += 1
        os.utime(self.path, ns=(1, self.version * 10**18))


def signatures(*keys: tuple[str, str], **extra) -> dict:
    return {"publicKeys": [{"name": name, "pem": pem} for name, pem in keys], **extra}


@pytest.fixture
def setup(tmp_path):
    """make(verifier, workers, **policy keys) builds a Decider over a freshly written policy file;
    make.policies rewrites that file (a reload), make.clock drives the verdict cache's expiry."""
    policies = Policies(tmp_path / "policy.yaml")
    clock = Clock()
    made = []

    def make(verifier=None, workers=None, **keys):
        policies.rewrite(**keys)
        extra = {} if workers is None else {"workers": workers}
        decider = Decider(
            PolicyStore(str(policies.path)),
            verifier or Verifier(),
            WebhookMetrics(),
            cache=VerdictCache(clock=clock),
            **extra,
        )
        made.append(decider)
        return decider

    make.policies, make.clock = policies, clock
    yield make
    for decider in made:
        decider.close()


def pod(*images: str) -> list[ContainerImage]:
    return [ContainerImage(CONTAINER, f"c{i}", image) for i, image in enumerate(images)]


def counter(decider: Decider, name: str, **labels) -> float:
    value = decider.metrics.registry.get_sample_value(f"glm_tts_image_policy_{name}_total", labels)
    return value or 0.0


def summary(decision: Decision) -> list[tuple[str, str, str]]:
    return [(f.container.describe(), f.violation.rule, f.container.image) for f in decision.findings]


# --- the pure rules over several containers -------------------------------------------------------


def test_admitted_pod(setup):
    decision = setup().decide("glm-tts", pod(f"a.io/app@{D1}", f"b.io/team/x:1@{D2}"))
    assert decision == Decision(allowed=True, audit=False, exempt=False, findings=[], notes=[])
    assert decision.rule is None
    assert decision.message() == "all images satisfy the image policy"


def test_findings_of_every_container_kind_sorted_by_rule(setup):
    containers = [
        ContainerImage(CONTAINER, "app", "a.io/app:1.0"),
        ContainerImage(INIT_CONTAINER, "setup", f"ghcr.io/x@{D1}"),
        ContainerImage(EPHEMERAL_CONTAINER, "debug", "a.io/tools:latest"),
        ContainerImage(CONTAINER, "sidecar", f"a.io/ok@{D2}"),
    ]
    decision = setup().decide("glm-tts", containers)
    assert decision.allowed is False and decision.audit is False and decision.exempt is False
    assert summary(decision) == [
        ("init container 'setup'", "registry", f"ghcr.io/x@{D1}"),
        ("ephemeral container 'debug'", "denied-tag", "a.io/tools:latest"),
        ("container 'app'", "digest", "a.io/app:1.0"),
        ("ephemeral container 'debug'", "digest", "a.io/tools:latest"),
    ]
    assert decision.rule == "registry"
    assert decision.message() == (
        "image policy: "
        f"init container 'setup': image 'ghcr.io/x@{D1}' (ghcr.io/x) is not from an allowed registry "
        "[rule registry]; fix: push the image to one of: a.io/, b.io/team/; "
        "ephemeral container 'debug': image 'a.io/tools:latest' uses the denied tag 'latest' "
        "[rule denied-tag]; "
        "fix: use an immutable tag and pin by digest: a.io/tools@sha256:<digest>; "
        "container 'app': image 'a.io/app:1.0' is not pinned by a sha256 digest [rule digest]; "
        "fix: pin by digest: a.io/app:1.0@sha256:<digest>; "
        "ephemeral container 'debug': image 'a.io/tools:latest' is not pinned by a sha256 digest "
        "[rule digest]; "
        "fix: pin by digest: a.io/tools:latest@sha256:<digest>"
    )


def test_one_image_in_several_containers_is_reported_for_each(setup):
    decision = setup().decide("glm-tts", pod("a.io/app", "a.io/app"))
    assert summary(decision) == [
        ("container 'c0'", "untagged", "a.io/app"),
        ("container 'c1'", "untagged", "a.io/app"),
        ("container 'c0'", "digest", "a.io/app"),
        ("container 'c1'", "digest", "a.io/app"),
    ]


def test_audit_mode_admits_and_keeps_the_findings(setup):
    decision = setup(mode="audit").decide("glm-tts", pod("ghcr.io/x:latest"))
    assert decision.allowed is True and decision.audit is True and decision.exempt is False
    assert [f.violation.rule for f in decision.findings] == ["registry", "denied-tag", "digest"]
    assert decision.rule == "registry"


@pytest.mark.parametrize("mode", ["enforce", "audit"])
def test_exempt_namespace_is_admitted_unjudged(setup, mode):
    verifier = Verifier()
    decider = setup(verifier, mode=mode, signatures=signatures(("ci", CI_PEM)))
    decision = decider.decide("kube-system", pod("ghcr.io/x:latest", f"a.io/app@{D1}"))
    assert (decision.allowed, decision.audit, decision.exempt) == (True, mode == "audit", True)
    assert decision.findings == [] and decision.notes == [] and decision.rule is None
    assert decision.message() == "all images satisfy the image policy"
    assert verifier.calls == []


def test_a_decision_that_says_only_allowed_has_nothing_else_to_report():
    decision = Decision(allowed=True)
    assert (decision.audit, decision.exempt, decision.findings, decision.notes) == (False, False, [], [])
    assert Decision(allowed=False).findings is not decision.findings


def test_no_namespace_is_judged(setup):
    decision = setup().decide(None, pod("ghcr.io/x@" + D1))
    assert (decision.allowed, decision.exempt, decision.rule) == (False, False, "registry")


def test_signatures_not_checked_when_not_required(setup):
    verifier = Verifier()
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM), required=False))
    assert decider.decide("glm-tts", pod(f"a.io/app@{D1}")).allowed is True
    assert verifier.calls == []


# --- the signature path ---------------------------------------------------------------------------


def test_signed_image_admitted_unsigned_refused_with_the_keys_named(setup):
    verifier = Verifier({f"a.io/app@{D1}": SIGNED, f"b.io/team/x@{D2}": UNSIGNED})
    decider = setup(
        verifier, signatures=signatures(("ci", CI_PEM), ("release", RELEASE_PEM), timeoutSeconds=2.5)
    )
    decision = decider.decide(
        "glm-tts",
        [
            ContainerImage(CONTAINER, "app", f"a.io/app:1.0@{D1}"),
            ContainerImage(INIT_CONTAINER, "x", f"b.io/team/x@{D2}"),
        ],
    )
    assert decision.allowed is False
    assert decision.message() == (
        f"image policy: init container 'x': image 'b.io/team/x@{D2}' has no valid cosign signature: "
        "no cosign signature found in the registry [rule signature]; "
        f"fix: sign it in the pipeline: cosign sign --key <ci, release key> b.io/team/x@{D2}"
    )
    assert verifier.asked == [f"a.io/app:1.0@{D1}", f"b.io/team/x@{D2}"]
    # Both checks ran in parallel, with the policy's keys, under one deadline of the policy's timeout.
    assert {call[1:3] for call in verifier.calls} == {(("ci", "release"), 2.5)}
    assert all(call[3].startswith("signature_") for call in verifier.calls)
    assert verifier.deadlines[0] is verifier.deadlines[1]
    assert counter(decider, "signature_checks", outcome="verified") == 1
    assert counter(decider, "signature_checks", outcome="unverified") == 1
    assert counter(decider, "signature_cache", result="miss") == 2


def test_single_check_runs_in_the_request_thread(setup):
    verifier = Verifier({f"a.io/app@{D1}": SIGNED})
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM)))
    assert decider.decide("glm-tts", pod(f"a.io/app@{D1}")).allowed is True
    assert [call[3] for call in verifier.calls] == [threading.current_thread().name]


def test_image_without_digest_cannot_have_its_signature_checked(setup):
    verifier = Verifier()
    decider = setup(verifier, requireDigest=False, signatures=signatures(("ci", CI_PEM)))
    decision = decider.decide("glm-tts", pod("a.io/app:1.0", f"a.io/x@sha512:{'ab' * 64}"))
    assert decision.allowed is False
    assert [f.describe() for f in decision.findings] == [
        "container 'c0': image 'a.io/app:1.0' has no digest, so its signature cannot be checked "
        "[rule signature]; fix: pin by digest: a.io/app:1.0@sha256:<digest>",
        f"container 'c1': image 'a.io/x@sha512:{'ab' * 64}' has no digest, "
        "so its signature cannot be checked [rule signature]; fix: pin by digest: a.io/x@sha256:<digest>",
    ]
    assert verifier.calls == []


def test_images_refused_by_a_cheaper_rule_are_never_fetched(setup):
    # Only registries on the allow-list are contacted: a pod spec must not make the webhook fetch anywhere.
    verifier = Verifier({f"a.io/ok@{D3}": SIGNED})
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM)))
    decision = decider.decide(
        "glm-tts", pod(f"evil.io/x@{D1}", f"a.io/x:latest@{D2}", "A.io/Bad", f"a.io/ok@{D3}")
    )
    assert [f.violation.rule for f in decision.findings] == ["invalid-reference", "registry", "denied-tag"]
    assert verifier.asked == [f"a.io/ok@{D3}"]


def test_audit_mode_reports_an_unsigned_image_and_admits(setup):
    verifier = Verifier({f"a.io/app@{D1}": UNSIGNED})
    decision = setup(verifier, mode="audit", signatures=signatures(("ci", CI_PEM))).decide(
        "glm-tts", pod(f"a.io/app@{D1}")
    )
    assert (decision.allowed, decision.audit, decision.rule) == (True, True, "signature")


def test_insecure_registries_reach_the_registry_client(setup):
    verifier = Verifier({f"a.io/app@{D1}": SIGNED})
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM), insecureRegistries=["A.io/", "b.io"]))
    decider.decide("glm-tts", pod(f"a.io/app@{D1}"))
    assert verifier.registry.insecure_registries == frozenset({"a.io", "b.io"})


@pytest.mark.parametrize("count", [1, 3], ids=["one-image", "three-images"])
def test_unreachable_registry_fails_closed(setup, count):
    images = [f"a.io/app{i}@{D1}" for i in range(count)]
    verifier = Verifier({image: RegistryUnavailable("a.io: connection refused") for image in images})
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM)))
    decision = decider.decide("glm-tts", pod(*images))
    assert decision.allowed is False and decision.notes == []
    assert [f.violation.describe() for f in decision.findings] == [
        f"the signature of image {image!r} could not be checked: a.io: connection refused [rule signature]; "
        "fix: make the registry reachable from the webhook (or set signatures.failOpen: true)"
        for image in images
    ]
    assert counter(decider, "registry_errors", registry="a.io") == count
    assert counter(decider, "signature_checks", outcome="error") == count
    assert counter(decider, "signature_cache", result="miss") == 0
    # Errors are not cached: the next request asks the registry again.
    decider.decide("glm-tts", pod(*images))
    assert len(verifier.calls) == 2 * count


def test_fail_open_admits_with_a_note_but_still_refuses_unsigned(setup, caplog):
    verifier = Verifier(
        {f"a.io/down@{D1}": RegistryUnavailable("timed out"), f"a.io/unsigned@{D2}": UNSIGNED}
    )
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM), failOpen=True))
    decision = decider.decide("glm-tts", pod(f"a.io/down@{D1}"))
    assert decision.allowed is True and decision.findings == []
    assert decision.notes == [f"signature of 'a.io/down@{D1}' not checked (failOpen): timed out"]
    assert f"fail-open: admitting a.io/down@{D1} unchecked: timed out" in caplog.messages

    decision = decider.decide("glm-tts", pod(f"a.io/down@{D1}", f"a.io/unsigned@{D2}"))
    assert decision.allowed is False
    assert [f.container.image for f in decision.findings] == [f"a.io/unsigned@{D2}"]
    assert decision.notes == [f"signature of 'a.io/down@{D1}' not checked (failOpen): timed out"]


# --- cached verdicts ------------------------------------------------------------------------------


def test_verdict_cached_per_repository_and_digest(setup):
    verifier = Verifier({f"a.io/app@{D1}": SIGNED, f"a.io/other@{D1}": SIGNED})
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM)))
    decider.decide("glm-tts", pod(f"a.io/app@{D1}"))
    decision = decider.decide("glm-tts", pod(f"a.io/app:2.0@{D1}", f"a.io/app@{D1}"))
    assert decision.allowed is True
    assert verifier.asked == [f"a.io/app@{D1}"]  # the tag is not part of the identity
    assert counter(decider, "signature_cache", result="hit") == 2
    assert counter(decider, "signature_cache", result="miss") == 1
    assert counter(decider, "signature_checks", outcome="verified") == 1

    decider.decide("glm-tts", pod(f"a.io/other@{D1}"))  # same digest, other repository: its own check
    assert verifier.asked == [f"a.io/app@{D1}", f"a.io/other@{D1}"]


def test_cached_unsigned_verdict_still_refuses(setup):
    verifier = Verifier({f"a.io/app@{D1}": UNSIGNED})
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM)))
    first = decider.decide("glm-tts", pod(f"a.io/app@{D1}"))
    second = decider.decide("glm-tts", pod(f"a.io/app@{D1}"))
    assert len(verifier.calls) == 1
    assert second.message() == first.message()
    assert second.rule == "signature" and second.allowed is False


def test_key_rotation_never_reuses_a_verdict_of_other_keys(setup):
    verifier = Verifier({f"a.io/app@{D1}": SIGNED})
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM)))
    decider.decide("glm-tts", pod(f"a.io/app@{D1}"))
    assert len(verifier.calls) == 1

    # Rotated to another key: the verdict made with the old one is not reused.
    setup.policies.rewrite(signatures=signatures(("ci", RELEASE_PEM)))
    verifier.outcomes[f"a.io/app@{D1}"] = UNSIGNED
    decision = decider.decide("glm-tts", pod(f"a.io/app@{D1}"))
    assert decision.allowed is False and decision.rule == "signature"
    assert [call[1] for call in verifier.calls] == [("ci",), ("ci",)]

    # A key added beside the old one is another key set too.
    setup.policies.rewrite(signatures=signatures(("ci", CI_PEM), ("release", RELEASE_PEM)))
    verifier.outcomes[f"a.io/app@{D1}"] = SIGNED
    assert decider.decide("glm-tts", pod(f"a.io/app@{D1}")).allowed is True
    assert len(verifier.calls) == 3

    # Renaming or reordering keys changes nothing the cache depends on: the verdict is reused.
    setup.policies.rewrite(signatures=signatures(("release-2", RELEASE_PEM), ("ci-2", CI_PEM)))
    assert decider.decide("glm-tts", pod(f"a.io/app@{D1}")).allowed is True
    assert len(verifier.calls) == 3

    # Back to the first key alone: its earlier verdict is still fresh.
    setup.policies.rewrite(signatures=signatures(("ci", CI_PEM)))
    assert decider.decide("glm-tts", pod(f"a.io/app@{D1}")).allowed is True
    assert len(verifier.calls) == 3


@pytest.mark.parametrize(
    ("verdict", "ttl", "kept"),
    [
        pytest.param(SIGNED, 300, 300.0, id="verified-kept-for-the-ttl"),
        pytest.param(SIGNED, 20, 20.0, id="verified-short-ttl"),
        pytest.param(UNSIGNED, 300, 10.0, id="unverified-capped-at-10s"),
        pytest.param(UNSIGNED, 4, 4.0, id="unverified-within-a-short-ttl"),
    ],
)
def test_how_long_a_verdict_is_kept(setup, verdict, ttl, kept):
    verifier = Verifier({f"a.io/app@{D1}": verdict})
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM), cacheTTLSeconds=ttl))
    decider.decide("glm-tts", pod(f"a.io/app@{D1}"))
    setup.clock.now += kept - 0.5
    decider.decide("glm-tts", pod(f"a.io/app@{D1}"))
    assert len(verifier.calls) == 1
    setup.clock.now += 0.5
    decider.decide("glm-tts", pod(f"a.io/app@{D1}"))
    assert len(verifier.calls) == 2


def test_ttl_zero_never_caches(setup):
    verifier = Verifier({f"a.io/app@{D1}": SIGNED})
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM), cacheTTLSeconds=0))
    for _ in range(3):
        decider.decide("glm-tts", pod(f"a.io/app@{D1}"))
    assert len(verifier.calls) == 3
    assert counter(decider, "signature_cache", result="hit") == 0


def test_a_cached_verdict_needs_no_thread_hand_off(setup):
    verifier = Verifier({f"a.io/app@{D1}": SIGNED, f"a.io/new@{D2}": UNSIGNED})
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM)))
    decider.decide("glm-tts", pod(f"a.io/app@{D1}"))
    # One image cached, one not: the one registry check left runs in the request's own thread.
    decision = decider.decide("glm-tts", pod(f"a.io/app@{D1}", f"a.io/new@{D2}"))
    assert [f.container.image for f in decision.findings] == [f"a.io/new@{D2}"]
    assert [call[0] for call in verifier.calls] == [f"a.io/app@{D1}", f"a.io/new@{D2}"]
    assert {call[3] for call in verifier.calls} == {threading.current_thread().name}
    assert counter(decider, "signature_cache", result="hit") == 1


def test_default_cache_remembers_verdicts(tmp_path):
    policies = Policies(tmp_path / "policy.yaml")
    policies.rewrite(signatures=signatures(("ci", CI_PEM)))
    verifier = Verifier({f"a.io/app@{D1}": SIGNED})
    decider = Decider(PolicyStore(str(policies.path)), verifier, WebhookMetrics())
    try:
        assert decider.decide("glm-tts", pod(f"a.io/app@{D1}")).allowed is True
        assert decider.decide("glm-tts", pod(f"a.io/app@{D1}")).allowed is True
    finally:
        decider.close()
    assert len(verifier.calls) == 1


def test_at_most_16_registry_checks_at_once_by_default(setup):
    lock, in_flight, most = threading.Lock(), [0], [0]
    full, crowded = threading.Event(), threading.Event()

    class Counting(Verifier):
        def verify(self, ref, keys, deadline):
            with lock:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
                if in_flight[0] >= 16:
                    full.set()
                if in_flight[0] > 16:
                    crowded.set()
            # Hold the slot until 16 checks overlap, then a moment longer for a 17th to show up.
            full.wait(10)  # generous for a loaded machine: it returns as soon as 16 overlap
            crowded.wait(0.2)
            with lock:
                in_flight[0] -= 1
            return super().verify(ref, keys, deadline)

    images = [f"a.io/app{i}@{D1}" for i in range(17)]
    verifier = Counting(dict.fromkeys(images, SIGNED))
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM)))
    assert decider.decide("glm-tts", pod(*images)).allowed is True
    assert len(verifier.calls) == 17
    assert most[0] == 16


def test_concurrent_checks_of_one_digest_ask_the_registry_once(setup):
    release = threading.Event()

    class Slow(Verifier):
        def verify(self, ref, keys, deadline):
            release.wait(5)
            return super().verify(ref, keys, deadline)

    verifier = Slow({f"a.io/app@{D1}": SIGNED})
    decider = setup(verifier, signatures=signatures(("ci", CI_PEM)))
    threading.Timer(0.2, release.set).start()
    decision = decider.decide("glm-tts", pod(f"a.io/app:1@{D1}", f"a.io/app:2@{D1}"))
    assert decision.allowed is True
    assert len(verifier.calls) == 1
    assert counter(decider, "signature_cache", result="miss") == 1
    assert counter(decider, "signature_cache", result="coalesced") == 1
    assert counter(decider, "signature_checks", outcome="verified") == 1


def test_close_returns_at_once_and_drops_queued_checks(setup):
    started, release = threading.Event(), threading.Event()

    class Stuck(Verifier):
        def verify(self, ref, keys, deadline):
            started.set()
            release.wait(10)
            return super().verify(ref, keys, deadline)

    verifier = Stuck({f"a.io/a@{D1}": SIGNED, f"a.io/b@{D1}": SIGNED})
    decider = setup(verifier, workers=1, signatures=signatures(("ci", CI_PEM)))
    outcome = []

    def request():
        try:
            outcome.append(decider.decide("glm-tts", pod(f"a.io/a@{D1}", f"a.io/b@{D1}")))
        except Exception as exc:  # a request to a closed Decider fails
            outcome.append(exc)

    thread = threading.Thread(target=request)
    thread.start()
    assert started.wait(5)
    # The request queues its second check behind the stuck first one; wait until it is queued.
    queue = decider._executor._work_queue
    deadline = time.monotonic() + 10
    while queue.qsize() < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert queue.qsize() == 1
    closer = threading.Thread(target=decider.close)
    closer.start()
    closer.join(2)
    close_waited = closer.is_alive()  # close() must not wait for the registry
    release.set()
    thread.join(5)
    closer.join(5)
    assert not close_waited
    assert len(verifier.calls) == 1  # the queued second check never reached the registry
    assert [type(o).__name__ for o in outcome] == ["CancelledError"]
