"""`glm-tts-server`: run the HTTP service, synthesise one text, or plan/run/gather an upstream-format batch.

Exit codes: 0 success, 1 synthesis failed (or any batch line failed), 2 usage/configuration error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from glm_tts_server import __version__
from glm_tts_server.audio import SUPPORTED_FORMATS, encode
from glm_tts_server.backends.base import BackendUnavailable, OutOfMemory, SynthesisOptions
from glm_tts_server.batch.command import add_batch_commands, run_batch_command
from glm_tts_server.config import ConfigError, Settings, load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glm-tts-server", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", metavar="FILE", help="YAML settings file (default: $GLMTTS_CONFIG); "
                        "GLMTTS_* environment variables override it")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("serve", help="run the HTTP API (settings from GLMTTS_* / --config)")

    synth = sub.add_parser("synth", help="synthesise TEXT into an audio file")
    synth.add_argument("text", metavar="TEXT", help="text; <zh>…</zh>/<en>…</en> tags mark languages")
    synth.add_argument("-o", "--output", required=True, type=Path, help="output file (.wav, .flac, .pcm)")
    synth.add_argument("--voice", help="registered voice name (in <data_dir>/voices; default: "
                       "settings default_voice)")
    synth.add_argument("--format", choices=SUPPORTED_FORMATS,
                       help="default: from the output suffix, else wav")
    synth.add_argument("--phoneme", action="store_true", help="phoneme mode (G2P overrides applied)")
    synth.add_argument("--seed", type=int)
    synth.add_argument("--speed", type=float, default=1.0)

    add_batch_commands(sub)
    return parser


def _serve(settings: Settings) -> int:
    from glm_tts_server.server import serve  # the HTTP stack is only imported when serving

    return serve(settings)


def _synth(settings: Settings, args: argparse.Namespace) -> int:
    from glm_tts_server.synthesis import InvalidOptions, InvalidText, build_synthesizer
    from glm_tts_server.voices import UnknownVoice, VoiceStore

    fmt = args.format or (args.output.suffix.lstrip(".").lower() if args.output.suffix else "wav")
    if fmt not in SUPPORTED_FORMATS:
        print(f"error: cannot tell the format from {args.output.name!r}: pass --format "
              f"({', '.join(SUPPORTED_FORMATS)})", file=sys.stderr)
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
    args.output.write_bytes(encode(audio, fmt))
    print(f"wrote {args.output}: {audio.duration_s:.2f} s at {audio.sample_rate} Hz in {elapsed:.2f} s "
          f"(real-time factor {elapsed / max(audio.duration_s, 1e-9):.3f})")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: return the code, do not exit
        return int(exc.code or 0)
    try:
        settings = load_settings(config_file=args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
