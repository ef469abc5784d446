"""Cut a batch file into balanced shards, and prove afterwards that the shard results cover it.

`plan` checks the file with the one batch parser (a bad line fails the plan with its line
number) and writes `shards/shard-NNN.jsonl` under the output directory. `gather` joins the
shard manifests written by `remote.synthesize_shard`: every uttid of the input in exactly one
manifest, none that the input lacks, every recorded WAV present with its size and sha256.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glm_tts_server.batch.jsonl import BatchItem, LineError, parse_jsonl
from glm_tts_server.batch.paths import UsageError, inside, write_atomic

MAX_SHARDS = 256
# Tekton passes results in the pod's 4 KiB termination message by default.
DEFAULT_RESULT_BUDGET = 3500


class InvalidInput(ValueError):
    """The batch file has bad lines (exit code 1); `errors` lists each."""

    def __init__(self, source: str, errors: list[LineError]):
        self.errors = errors
        shown = "\n".join(f"{source}:{e}" for e in errors[:50])
        more = f"\n... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{len(errors)} bad line(s) in {source}:\n{shown}{more}")


def read_batch(workspace: Path, input_rel: str) -> list[BatchItem]:
    """Parse the input (prompt paths relative to the workspace); any bad line raises InvalidInput."""
    source = inside(workspace, input_rel, "input")
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"input {input_rel!r} not found in the workspace") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read input {input_rel!r}: {exc}") from None
    items, errors = parse_jsonl(text, workspace)
    if errors:
        raise InvalidInput(input_rel, errors)
    if not items:
        raise InvalidInput(input_rel, [LineError(0, "the file holds no utterances")])
    return items


def balance(items: list[BatchItem], count: int) -> list[list[BatchItem]]:
    """Longest text first onto the lightest shard; each shard keeps input order."""
    loads = [0] * count
    members: list[list[int]] = [[] for _ in range(count)]
    for i in sorted(range(len(items)), key=lambda i: (-len(items[i].syn_text), i)):
        target = min(range(count), key=lambda s: (loads[s], s))
        loads[target] += len(items[i].syn_text) + 1
        members[target].append(i)
    return [[items[i] for i in sorted(m)] for m in members]


def plan(
    workspace: Path, input_rel: str, shards: int, output_dir: str, result_budget: int = DEFAULT_RESULT_BUDGET
) -> list[str]:
    """Write the shard files; return their workspace-relative paths (input order kept per shard)."""
    if not 1 <= shards <= MAX_SHARDS:
        raise UsageError(f"--shards must be between 1 and {MAX_SHARDS}, got {shards}")
    out = inside(workspace, output_dir, "output directory")
    items = read_batch(workspace, input_rel)
    count = min(shards, len(items))
    rel_dir = Path(output_dir) / "shards"
    names = [(rel_dir / f"shard-{i:03d}.jsonl").as_posix() for i in range(count)]
    if len(json.dumps(names)) > result_budget:
        raise UsageError(
            f"{count} shard paths need {len(json.dumps(names))} bytes of results, "
            f"over the {result_budget}-byte budget (Tekton's 4 KiB termination message): "
            "use fewer shards or a shorter output directory, "
            "or raise the budget on a cluster with results-from: sidecar-logs"
        )
    shard_dir = out / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    for stale in shard_dir.glob("shard-*.jsonl"):
        stale.unlink()
    for name, members in zip(names, balance(items, count), strict=True):
        write_atomic(workspace / name, "".join(item.to_json() + "\n" for item in members))
        print(f"{name}: {len(members)} utterances", flush=True)
    write_atomic(
        out / "plan.json",
        json.dumps({"input": input_rel, "lines": len(items), "shards": names}, indent=2) + "\n",
    )
    print(f"planned {len(items)} utterances in {count} shards", flush=True)
    return names


def read_manifest(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if raw.strip():
            try:
                rows.append(json.loads(raw))
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path.name} line {number}: not valid JSON ({exc.msg})") from None
    return rows


@dataclass
class Gathered:
    inputs: list[str]
    records: dict[str, dict[str, Any]]
    missing_manifests: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ok = [u for u in self.inputs if self.records.get(u, {}).get("status") == "ok"]
        return {
            "total": len(self.inputs),
            "ok": len(ok),
            "error": len(self.failed),
            "missing": len(self.missing),
            "duplicated": len(self.duplicated),
            "unexpected": len(self.unexpected),
            "corrupt": len(self.corrupt),
            "audio_seconds": round(sum(self.records[u].get("duration") or 0 for u in ok), 2),
        }

    def problems(self, fail_on_error: bool) -> list[str]:
        found = []
        for name, ids in (
            ("shard manifests missing", self.missing_manifests),
            ("uttids missing", self.missing),
            ("uttids in more than one manifest", self.duplicated),
            ("uttids not in the input", self.unexpected),
            ("wavs missing or altered", self.corrupt),
        ):
            if ids:
                found.append(f"{len(ids)} {name}: {', '.join(map(str, ids[:10]))}")
        if self.failed and fail_on_error:
            found.append(f"{len(self.failed)} lines failed synthesis: {', '.join(self.failed[:10])}")
        return found


def _wav_intact(path: Path, record: dict[str, Any]) -> bool:
    if not path.is_file():
        return False
    data = path.read_bytes()
    return len(data) == record.get("bytes") and hashlib.sha256(data).hexdigest() == record.get("sha256")


def gather(workspace: Path, input_rel: str, shards: list[str], output_dir: str) -> Gathered:
    """Join the shard manifests; write `manifest.jsonl` (input order) and `summary.json`."""
    shards = [s for s in shards if s]
    if not shards:
        raise UsageError("no shards given: pass the shard paths glm-tts-server batch plan printed")
    out = inside(workspace, output_dir, "output directory")
    inputs = [item.uttid for item in read_batch(workspace, input_rel)]
    result = Gathered(inputs, {})
    seen: Counter[str] = Counter()
    for shard in shards:
        manifest = out / "manifests" / inside(workspace, shard, "shard").name
        if not manifest.is_file():
            result.missing_manifests.append(shard)
            continue
        for record in read_manifest(manifest):
            uttid = str(record.get("uttid"))
            seen[uttid] += 1
            result.records.setdefault(uttid, record)
    wanted = set(inputs)
    result.missing = [u for u in inputs if u not in seen]
    result.duplicated = sorted(u for u, n in seen.items() if n > 1)
    result.unexpected = sorted(u for u in seen if u not in wanted)
    result.failed = [u for u in inputs if u in result.records and result.records[u].get("status") != "ok"]
    result.corrupt = [
        u
        for u in inputs
        if result.records.get(u, {}).get("status") == "ok"
        and not _wav_intact(out / "wav" / f"{u}.wav", result.records[u])
    ]
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(
        out / "manifest.jsonl",
        "".join(
            json.dumps(result.records[u], ensure_ascii=False, sort_keys=True) + "\n"
            for u in inputs
            if u in result.records
        ),
    )
    detail = dict(
        result.summary(),
        missing_ids=result.missing,
        duplicated_ids=result.duplicated,
        unexpected_ids=result.unexpected,
        corrupt_ids=result.corrupt,
        error_ids=result.failed,
        missing_manifests=result.missing_manifests,
    )
    write_atomic(out / "summary.json", json.dumps(detail, indent=2, ensure_ascii=False) + "\n")
    return result
