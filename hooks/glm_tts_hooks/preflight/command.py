"""`glm-tts-hooks preflight`: argument parsing and the exit code; the checks live in checks.py.

Only argparse is imported here: the Kubernetes client loads when the command runs, so building
the CLI's parser (for any verb) stays cheap.
"""

from __future__ import annotations

import argparse
import sys

from glm_tts_hooks.argtypes import BoolFlag, EmptyIsUnset, ListFlag, non_negative_int, positive_int
from glm_tts_hooks.report import EXIT_USAGE
from glm_tts_hooks.verb import add_check_verb

HELP = "check that the cluster can run the release, before helm install"
DESCRIPTION = (
    "Check nodes, GPUs (device plugin, driver, memory, free capacity), RuntimeClass, storage "
    "and quota for a GLM-TTS release. An empty flag value means the flag was not given. "
    "Exit 0 pass, 1 a check failed, 2 usage or API error."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    add_check_verb(subparsers, "preflight", HELP, DESCRIPTION, add_arguments, run, cluster=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", required=True, help="namespace the release goes to")
    parser.add_argument(
        "--gpu-resource",
        default="nvidia.com/gpu",
        action=EmptyIsUnset,
        metavar="NAME",
        help="extended resource per replica, e.g. nvidia.com/mig-3g.40gb (default: nvidia.com/gpu)",
    )
    parser.add_argument(
        "--gpu-count",
        action=EmptyIsUnset,
        parse=non_negative_int,
        default=1,
        metavar="N",
        help="GPUs per replica; 0 = CPU-only release, GPU checks skipped (default: 1)",
    )
    parser.add_argument(
        "--replicas",
        action=EmptyIsUnset,
        parse=positive_int,
        default=1,
        metavar="N",
        help="replicas (default: 1)",
    )
    parser.add_argument(
        "--node-selector",
        action=ListFlag,
        metavar="KEY=VALUE",
        help="the release's nodeSelector (several values or repeated)",
    )
    parser.add_argument(
        "--toleration",
        action=ListFlag,
        metavar="KEY[=VALUE]:EFFECT",
        help="the release's tolerations; KEY:EFFECT = operator Exists, empty EFFECT = all "
        "(several values or repeated)",
    )
    parser.add_argument(
        "--runtime-class", action=EmptyIsUnset, metavar="NAME", help="RuntimeClass the pods use (e.g. nvidia)"
    )
    parser.add_argument(
        "--cuda-version",
        action=EmptyIsUnset,
        metavar="X.Y",
        help="CUDA version of the image, to check node drivers",
    )
    parser.add_argument(
        "--min-gpu-memory-mib",
        action=EmptyIsUnset,
        parse=positive_int,
        default=10240,
        metavar="N",
        help="memory one model instance needs on a GPU (or MIG slice), MiB (default: 10240)",
    )
    parser.add_argument(
        "--instances-per-gpu",
        action=EmptyIsUnset,
        parse=positive_int,
        default=1,
        metavar="N",
        help="model instances sharing each GPU; each GPU needs N x --min-gpu-memory-mib (default: 1)",
    )
    parser.add_argument(
        "--pvc", action=EmptyIsUnset, metavar="NAME", help="existing PersistentVolumeClaim with the model"
    )
    parser.add_argument(
        "--storage-class",
        metavar="NAME",
        help="StorageClass for a new claim; '' = the cluster default must exist (omit: no storage check)",
    )
    upgrade = parser.add_argument_group("upgrades and autoscaling")
    upgrade.add_argument(
        "--release-selector",
        action=EmptyIsUnset,
        metavar="SELECTOR",
        help="label selector of the release's own pods in --namespace (e.g. "
        "app.kubernetes.io/name=glm-tts,app.kubernetes.io/instance=RELEASE): on an upgrade their GPUs "
        "count as free, since the new pods replace them",
    )
    upgrade.add_argument(
        "--surge",
        action=EmptyIsUnset,
        parse=non_negative_int,
        default=0,
        metavar="N",
        help="extra pods the rollout creates beside the old ones (RollingUpdate maxSurge; 0 for Recreate); "
        "asked for only when the release already runs pods (default: 0)",
    )
    upgrade.add_argument(
        "--node-autoscaler",
        action=BoolFlag,
        help="a cluster autoscaler or Karpenter adds GPU nodes on demand (scale-from-zero pools): "
        "no usable node and too few free GPUs are warnings, not failures",
    )
    parser.add_argument("--fail-on-warning", action=BoolFlag, help="treat warnings as failures")


def options_from_args(args: argparse.Namespace):
    """Validate the flags into Options; ValueError carries a message that says what to fix."""
    from glm_tts_hooks.preflight.gpu import min_driver_for_cuda
    from glm_tts_hooks.preflight.options import (
        Options,
        parse_cuda_version,
        parse_node_selector,
        parse_toleration,
    )

    cuda = parse_cuda_version(args.cuda_version) if args.cuda_version else None
    if cuda is not None:
        min_driver_for_cuda(cuda)  # rejects CUDA versions we know no driver minimum for
    if args.pvc and args.storage_class:
        raise ValueError("--pvc and --storage-class: give one (an existing claim, or the class of a new one)")
    return Options(
        namespace=args.namespace,
        gpu_resource=args.gpu_resource,
        gpu_count=args.gpu_count,
        replicas=args.replicas,
        node_selector=dict(parse_node_selector(item) for item in args.node_selector),
        tolerations=tuple(parse_toleration(item) for item in args.toleration),
        runtime_class=args.runtime_class or None,
        cuda_version=cuda,
        min_gpu_memory_mib=args.min_gpu_memory_mib,
        instances_per_gpu=args.instances_per_gpu,
        pvc=args.pvc or None,
        storage_class=None if args.pvc else args.storage_class,
        release_selector=args.release_selector or None,
        surge=args.surge,
        node_autoscaler=args.node_autoscaler,
    )


def run(args: argparse.Namespace) -> int:
    from glm_tts_hooks.report import Report, emit_args

    title = f"GLM-TTS preflight: namespace {args.namespace}"
    try:
        options = options_from_args(args)
    except ValueError as exc:
        print(f"glm-tts-hooks preflight: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from glm_tts_hooks.kube import Kube, KubeError, configuration_from_args
    from glm_tts_hooks.preflight.checks import Preflight

    try:
        kube = Kube(configuration_from_args(args), args.request_timeout)
    except KubeError as exc:
        return emit_args(Report(error=str(exc)), args, title=title)
    with kube:
        report = Preflight(kube, options).run()
    return emit_args(report, args, title=title)
