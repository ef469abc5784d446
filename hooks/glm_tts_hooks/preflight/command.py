"""`glm-tts-hooks preflight`: argument parsing and the exit code; the checks live in checks.py."""

from __future__ import annotations

import argparse
import sys

from glm_tts_hooks.argtypes import non_negative_int, positive_int
from glm_tts_hooks.kube import Kube, KubeError, add_connection_arguments, api_client_from_args
from glm_tts_hooks.preflight.checks import Preflight
from glm_tts_hooks.preflight.gpu import min_driver_for_cuda
from glm_tts_hooks.preflight.options import Options, parse_cuda_version, parse_node_selector, parse_toleration
from glm_tts_hooks.report import EXIT_USAGE, Report, add_output_argument, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preflight",
        help="check that the cluster can run the release, before helm install",
        description="Check nodes, GPUs (device plugin, driver, memory, free capacity), RuntimeClass, storage "
        "and quota for a GLM-TTS release. Exit 0 pass, 1 a check failed, 2 usage or API error.",
    )
    parser.add_argument("--namespace", required=True, help="namespace the release goes to")
    parser.add_argument(
        "--gpu-resource",
        default="nvidia.com/gpu",
        metavar="NAME",
        help="extended resource per replica, e.g. nvidia.com/mig-3g.40gb (default: nvidia.com/gpu)",
    )
    parser.add_argument(
        "--gpu-count",
        type=non_negative_int,
        default=1,
        metavar="N",
        help="GPUs per replica; 0 = CPU-only release, GPU checks skipped (default: 1)",
    )
    parser.add_argument("--replicas", type=positive_int, default=1, metavar="N", help="replicas (default: 1)")
    parser.add_argument(
        "--node-selector",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="the release's nodeSelector (repeatable)",
    )
    parser.add_argument(
        "--toleration",
        action="append",
        default=[],
        metavar="KEY[=VALUE]:EFFECT",
        help="the release's tolerations; KEY:EFFECT = operator Exists, empty EFFECT = all (repeatable)",
    )
    parser.add_argument("--runtime-class", metavar="NAME", help="RuntimeClass the pods use (e.g. nvidia)")
    parser.add_argument(
        "--cuda-version", metavar="X.Y", help="CUDA version of the image, to check node drivers"
    )
    parser.add_argument(
        "--min-gpu-memory-mib",
        type=positive_int,
        default=10240,
        metavar="N",
        help="memory one GPU (or MIG slice) needs, MiB (default: 10240)",
    )
    storage = parser.add_mutually_exclusive_group()
    storage.add_argument("--pvc", metavar="NAME", help="existing PersistentVolumeClaim with the model")
    storage.add_argument(
        "--storage-class",
        metavar="NAME",
        help="StorageClass for a new claim; '' = the cluster default must exist",
    )
    parser.add_argument("--fail-on-warning", action="store_true", help="treat warnings as failures")
    add_connection_arguments(parser)
    add_output_argument(parser)
    parser.set_defaults(func=run)


def options_from_args(args: argparse.Namespace) -> Options:
    """Validate the flags into Options; ValueError carries a message that says what to fix."""
    cuda = parse_cuda_version(args.cuda_version) if args.cuda_version else None
    if cuda is not None:
        min_driver_for_cuda(cuda)  # rejects CUDA versions we know no driver minimum for
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
        pvc=args.pvc or None,
        storage_class=args.storage_class,
    )


def run(args: argparse.Namespace) -> int:
    title = f"GLM-TTS preflight: namespace {args.namespace}"
    try:
        options = options_from_args(args)
    except ValueError as exc:
        print(f"glm-tts-hooks preflight: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        kube = Kube(api_client_from_args(args), args.request_timeout)
    except KubeError as exc:
        return emit(Report(error=str(exc)), args.output, title=title)
    with kube.api_client:
        report = Preflight(kube, options).run()
    return emit(report, args.output, title=title, fail_on_warning=args.fail_on_warning)
