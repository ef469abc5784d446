"""`glm-tts-server`: run the HTTP service, synthesise one text, or plan/run/gather an upstream-format batch.

Every setting comes from, lowest precedence first: its default, the YAML file (`--config` or
$GLMTTS_CONFIG), its GLMTTS_* environment variable, then a command-line flag where one exists.

Exit codes: 0 success, 1 synthesis failed (or any batch line failed), 2 usage/configuration error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from glm_tts_server import __version__
from glm_tts_server.backends.base import BackendUnavailable, OutOfMemory, SynthesisOptions
from glm_tts_server.batch.command import add_batch_commands, run_batch_command
from glm_tts_server.config import BUILTIN_BACKENDS, ConfigError, Settings, load_settings
from glm_tts_server.constants import CONFIG_FILE_ENV, ENV_PREFIX, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from glm_tts_server.encoding import FORMATS, encode

# serve's flags: flag destination → settings key
SERVE_FLAGS = {"host": "host", "port": "port", "backend": "backend"}


def _settings_epilog() -> str:
    """Every setting with its config-file key, environment variable and default (from Settings)."""
    lines = [
        f"settings: key in the --config YAML file (or ${CONFIG_FILE_ENV}) / environment variable "
        "(overrides the file) [default]"
    ]
    for key, field in Settings.model_fields.items():
        default = "unset" if field.default is None else field.default
        if key == "audit_log":
            default = "<data_dir>/audit/voice-audit.jsonl"
        lines.append(f"  {key:<24} {ENV_PREFIX}{key.upper():<26} [{default}]")
    return "\n".join(lines)


def _config_flag(parser: argparse.ArgumentParser, default: Any = None) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=default,
        help=f"YAML settings file (default: ${CONFIG_FILE_ENV}); GLMTTS_* environment variables override it",
    )


def _parser() -> argparse.ArgumentParser:
    epilog = _settings_epilog()
    parser = argparse.ArgumentParser(
        prog="glm-tts-server",
        description=__doc__.split("\n\n")[0],
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _config_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        # Also after the verb (`serve --config f`); argparse.SUPPRESS keeps a value given before it.
        _config_flag(command, default=argparse.SUPPRESS)
        return command

    serve = verb("serve", "run the HTTP API (web page at /, OpenAI-compatible API under /v1)")
    serve.add_argument("--host", help="address to listen on (config host, $GLMTTS_HOST; default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port (config port, $GLMTTS_PORT; default 8080)")
    serve.add_argument(
        "--backend",
        help=f"{' or '.join(BUILTIN_BACKENDS)} or package.module:Class "
        "(config backend, $GLMTTS_BACKEND; default espeak)",
    )

    synth = verb("synth", "synthesise TEXT into an audio file")
    synth.add_argument("text", metavar="TEXT", help="text; <zh>…</zh>/<en>…</en> tags mark languages")
    synth.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        help=f"output file ({', '.join('.' + f for f in FORMATS)})",
    )
    synth.add_argument(
        "--voice",
        help="registered voice name (in <data_dir>/voices; default: config "
        "default_voice, $GLMTTS_DEFAULT_VOICE)",
    )
    synth.add_argument("--format", choices=FORMATS, help="default: from the output suffix, else wav")
    synth.add_argument("--phoneme", action="store_true", help="phoneme mode (G2P overrides applied)")
    synth.add_argument("--seed", type=int)
    synth.add_argument("--speed", type=float, default=1.0)

    add_batch_commands(sub, epilog)
    return parser


def _with_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    """Settings with serve's flags applied over the file and the environment."""
    overrides = {
        key: getattr(args, flag) for flag, key in SERVE_FLAGS.items() if getattr(args, flag, None) is not None
    }
    if not overrides:
        return settings
    try:
        return Settings.model_validate({**settings.model_dump(), **overrides})
    except ValidationError as exc:
        problems = [f"--{err['loc'][0]}: {err['msg'].removeprefix('Value error, ')}" for err in exc.errors()]
        raise ConfigError("invalid option: " + "; ".join(problems)) from None


def _serve(settings: Settings) -> int:
    from glm_tts_server.server import serve  # the HTTP stack is only imported when serving

    host = settings.host
    shown = f"[{host}]" if ":" in host else host
    all_interfaces = host in ("0.0.0.0", "::")  # noqa: S104 (recognising it, not binding to it)
    hint = f" (all interfaces: open http://127.0.0.1:{settings.port}/)" if all_interfaces else ""
    print(
        f"glm-tts-server {__version__}: {settings.backend} backend, listening on "
        f"http://{shown}:{settings.port}/{hint}; OpenAI-compatible API at /v1, ready when /readyz is 200",
        flush=True,
    )
    return serve(settings)


def _synth(settings: Settings, args: argparse.Namespace) -> int:
    from glm_tts_server.synthesis import InvalidOptions, InvalidText, build_synthesizer
    from glm_tts_server.voices import UnknownVoice, VoiceStore

    fmt = args.format or (args.output.suffix.lstrip(".").lower() if args.output.suffix else "wav")
    if fmt not in FORMATS:
        print(
            f"error: cannot tell the format from {args.output.name!r}: pass --format ({', '.join(FORMATS)})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    voice_name = args.voice or settings.default_voice
    try:
        voice = VoiceStore(settings.data_dir).get(voice_name) if voice_name else None
    except UnknownVoice as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    synthesizer = build_synthesizer(settings)
    options = SynthesisOptions(voice=voice, speed=args.speed, seed=args.seed)
    try:
        synthesizer.plan(args.text, args.phoneme)
        synthesizer.check_options(options)
    except (InvalidText, InvalidOptions) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    started = time.perf_counter()
    audio = synthesizer.synthesize(args.text, options, phoneme=args.phoneme)
    elapsed = time.perf_counter() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(encode(audio.samples, audio.sample_rate, fmt))
    print(
        f"wrote {args.output}: {audio.duration_s:.2f} s at {audio.sample_rate} Hz in {elapsed:.2f} s "
        f"(real-time factor {elapsed / max(audio.duration_s, 1e-9):.3f})"
    )
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: return the code, do not exit
        return int(exc.code or 0)
    try:
        settings = load_settings(config_file=args.config)
        if args.command == "serve":
            settings = _with_flags(settings, args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "serve":
            return _serve(settings)
        if args.command == "synth":
            return _synth(settings, args)
        return run_batch_command(settings, args)
    except (BackendUnavailable, OutOfMemory) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
