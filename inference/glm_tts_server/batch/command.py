"""`glm-tts-server batch run|plan|synthesize|gather`: the batch verbs (also the Tekton batch steps).

Every verb takes Tekton-friendly values: an empty string means "unset" for optional values,
booleans are `true`/`false`, and `--result-*` files receive the values a Task result needs.
Exit codes: 0 success, 1 a line or check failed, 2 usage (bad flag, path or unreadable file).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from glm_tts_server.batch.paths import UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false", ""):
        raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")
    return lowered == "true"


def _optional_int(value: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or an empty string, got {value!r}") from None


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None


def _workspace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace",
        type=Path,
        default=Path("."),
        help="directory every other path is relative to (default: .)",
    )
    parser.add_argument(
        "--output-dir",
        default="batch-out",
        metavar="REL",
        help="directory for shards, audio and manifests, relative to the workspace (default: batch-out)",
    )


def _result(parser: argparse.ArgumentParser, name: str, what: str) -> None:
    parser.add_argument(
        f"--result-{name}",
        default="",
        metavar="FILE",
        help=f"also write {what} here (a Tekton result path; empty = do not)",
    )


def add_batch_commands(sub: argparse._SubParsersAction, epilog: str = "") -> None:
    """The batch verbs; `epilog` (where each setting can also come from) ends every --help."""
    shown = {"epilog": epilog, "formatter_class": argparse.RawDescriptionHelpFormatter}
    batch = sub.add_parser(
        "batch",
        help="batch synthesis of an upstream-format JSONL file",
        description=__doc__.splitlines()[0],
        **shown,
    )
    verbs = batch.add_subparsers(dest="batch_command", required=True, metavar="VERB")

    run = verbs.add_parser("run", **shown, help="synthesise a JSONL file in this process into a directory")
    run.add_argument(
        "file",
        metavar="FILE",
        type=Path,
        help='JSONL, one {"uttid","prompt_text","prompt_speech","syn_text"} per line',
    )
    run.add_argument(
        "-o", "--output", required=True, type=Path, help="directory for <uttid>.wav + manifest.json"
    )
    run.add_argument("--workers", type=_int, default=1, help="worker processes, each with its own backend")
    run.add_argument(
        "--data-dir",
        type=Path,
        help="directory prompt_speech paths are relative to (default: settings data_dir)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")

    plan = verbs.add_parser("plan", **shown, help="check a JSONL file and cut it into balanced shards")
    _workspace(plan)
    plan.add_argument(
        "--input", required=True, metavar="REL", help="the JSONL file, relative to the workspace"
    )
    plan.add_argument("--shards", type=_int, default=4, help="shards to cut, 1-256 (fewer when fewer lines)")
    plan.add_argument(
        "--max-result-bytes",
        type=_int,
        default=3500,
        help="size budget of the shard list (Tekton's 4 KiB termination message)",
    )
    _result(plan, "shards", "the JSON array of shard paths")
    _result(plan, "lines", "the number of utterances")

    synth = verbs.add_parser("synthesize", **shown, help="synthesise one shard against a running service")
    _workspace(synth)
    synth.add_argument("--shard", required=True, metavar="REL", help="shard file, relative to the workspace")
    synth.add_argument(
        "--url", required=True, help="base URL of the service, e.g. http://glm-tts.ns.svc:8080"
    )
    synth.add_argument("--concurrency", type=_int, default=4, help="requests in flight (1-64)")
    synth.add_argument("--max-attempts", type=_int, default=8, help="attempts per line (1-100)")
    synth.add_argument("--retry-after-max", type=_int, default=60, help="longest Retry-After honoured, s")
    synth.add_argument("--request-timeout", type=_int, default=300, help="seconds for one synthesis")
    synth.add_argument("--voice", default="", help="voice for lines without prompt_speech (empty = default)")
    synth.add_argument("--seed", type=_optional_int, default=None, help="sampling seed (empty = none)")
    synth.add_argument(
        "--api-key-dir",
        default="",
        metavar="DIR",
        help="directory holding the API key file (an optional Secret workspace; empty = no key)",
    )
    synth.add_argument(
        "--api-key-name", default="api-key", metavar="NAME", help="key file name (default: api-key)"
    )
    synth.add_argument(
        "--fail-on-error",
        type=_bool,
        default=False,
        metavar="true|false",
        help="exit 1 when a line failed (it is always recorded)",
    )
    _result(synth, "manifest", "the shard manifest path")
    _result(synth, "ok-count", "the number of lines synthesised")
    _result(synth, "error-count", "the number of lines that failed")

    gather = verbs.add_parser(
        "gather", **shown, help="prove the shard manifests cover the input exactly once"
    )
    _workspace(gather)
    gather.add_argument("--input", required=True, metavar="REL", help="the JSONL file that was planned")
    gather.add_argument(
        "--fail-on-error",
        type=_bool,
        default=False,
        metavar="true|false",
        help="also exit 1 when a line was recorded as a synthesis error",
    )
    gather.add_argument("shards", nargs="*", metavar="SHARD", help="shard paths (plan's SHARDS result)")
    _result(gather, "manifest", "the combined manifest path")
    _result(gather, "summary", "compact JSON counts")


def _write_result(path: str, value: str) -> None:
    if path:
        Path(path).write_text(value, encoding="utf-8")


def _run(settings, args: argparse.Namespace) -> int:
    from glm_tts_server.batch.jsonl import parse_jsonl
    from glm_tts_server.batch.local import run_batch
    from glm_tts_server.synthesis import build_synthesizer

    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {args.file}: {exc}") from None
    items, errors = parse_jsonl(text, args.data_dir or settings.data_dir)
    for error in errors:
        print(f"{args.file}:{error}", file=sys.stderr)
    # Worker processes each build their own backend from these (picklable) settings.
    factory = functools.partial(build_synthesizer, settings)
    manifest = run_batch(
        items, factory, args.output, workers=args.workers, progress=not args.no_progress, errors=errors
    )
    for item in manifest["items"]:
        if item["status"] == "failed":
            print(f"{args.file}:line {item['line']} ({item['uttid']}): {item['error']}", file=sys.stderr)
    print(
        f"{manifest['succeeded']} of {manifest['total']} lines synthesised, {manifest['failed']} failed, "
        f"in {manifest['wall_s']:.2f} s with {args.workers} worker(s); manifest: "
        f"{args.output / 'manifest.json'}"
    )
    return EXIT_OK if manifest["failed"] == 0 else EXIT_FAILED


def _plan(args: argparse.Namespace) -> int:
    from glm_tts_server.batch.shards import InvalidInput, plan

    try:
        names = plan(args.workspace, args.input, args.shards, args.output_dir, args.max_result_bytes)
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _write_result(args.result_shards, json.dumps(names))
    lines = json.loads((args.workspace / args.output_dir / "plan.json").read_text())["lines"]
    _write_result(args.result_lines, str(lines))
    return EXIT_OK


def _synthesize(args: argparse.Namespace) -> int:
    from glm_tts_server.batch.remote import ClientOptions, read_api_key, synthesize_shard

    options = ClientOptions(
        url=args.url,
        concurrency=args.concurrency,
        max_attempts=args.max_attempts,
        retry_after_max_s=args.retry_after_max,
        request_timeout_s=args.request_timeout,
        voice=args.voice,
        seed=args.seed,
        api_key=read_api_key(args.api_key_dir, args.api_key_name),
    )
    result = synthesize_shard(args.workspace, args.shard, args.output_dir, options)
    _write_result(args.result_manifest, result.manifest)
    _write_result(args.result_ok_count, str(result.ok))
    _write_result(args.result_error_count, str(result.errors))
    return EXIT_FAILED if result.errors and args.fail_on_error else EXIT_OK


def _gather(args: argparse.Namespace) -> int:
    from glm_tts_server.batch.shards import InvalidInput, gather

    try:
        gathered = gather(args.workspace, args.input, args.shards, args.output_dir)
    except InvalidInput as exc:
        print(f"error: the input changed since it was planned: {exc}", file=sys.stderr)
        return EXIT_FAILED
    summary = json.dumps(gathered.summary(), separators=(",", ":"))
    _write_result(args.result_manifest, f"{args.output_dir.rstrip('/')}/manifest.jsonl")
    _write_result(args.result_summary, summary)
    print(summary)
    problems = gathered.problems(args.fail_on_error)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK


def run_batch_command(settings, args: argparse.Namespace) -> int:
    try:
        if args.batch_command == "run":
            return _run(settings, args)
        if args.batch_command == "plan":
            return _plan(args)
        if args.batch_command == "synthesize":
            return _synthesize(args)
        return _gather(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
