#!/usr/bin/env python3
"""Build the ecosystem's Go tools pinned in tools/go-tools.toml into a per-version cache.

Each tool is built through its wrapper module tools/go/<wrapper>/ (go.mod and go.sum committed), so
`go build` needs no version query against the module proxy and every dependency is checksummed.
Binaries land in ${GLM_TTS_TOOLS_CACHE:-~/.cache/glm-tts/tools}/<name>-<version>/<name>, with a
flat <cache>/bin/<name> symlink, and are linked into .tools/bin/ (or --link-dir). A tool whose
binary already exists is skipped.

    scripts/build_go_tools.py                 build what is missing, link it
    scripts/build_go_tools.py cosign etcd     only these tools
    scripts/build_go_tools.py --sync          rewrite the wrappers' go.mod/go.sum from the pin file
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
PIN_FILE = ROOT / "tools" / "go-tools.toml"
WRAPPERS = ROOT / "tools" / "go"
GO_VERSION = "1.26"


@dataclass(frozen=True)
class Tool:
    name: str
    module: str
    version: str
    package: str
    wrapper: str
    ldflags: str

    @property
    def wrapper_dir(self) -> Path:
        return WRAPPERS / self.wrapper

    def binary(self, cache: Path) -> Path:
        return cache / f"{self.name}-{self.version}" / self.name


def load_tools() -> dict[str, Tool]:
    pins = tomllib.loads(PIN_FILE.read_text())["tools"]
    return {
        name: Tool(
            name=name,
            module=spec["module"],
            version=spec["version"],
            package=spec["package"],
            wrapper=spec.get("wrapper", name),
            ldflags=spec.get("ldflags", ""),
        )
        for name, spec in pins.items()
    }


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "glm-tts" / "tools"
    return Path(os.environ.get("GLM_TTS_TOOLS_CACHE") or default)


def go(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["go", *args], cwd=cwd, env=env, text=True, capture_output=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"go {' '.join(args)} failed in {cwd} (exit {result.returncode})")
    return result.stdout


def module_info(module: str, version: str) -> dict:
    """`go mod download -json` of one module version: paths of its go.mod and .info files."""
    return json.loads(go("mod", "download", "-json", f"{module}@{version}", cwd=WRAPPERS))


def upstream_replaces(tool: Tool) -> dict[str, str]:
    """Replace lines for modules that upstream replaces with local folders.

    `go install mod@ver` refuses modules whose go.mod replaces anything; the wrapper repeats the
    replacements that point at published modules, and maps k8s.io/kubernetes' ./staging/src
    folders to the published k8s.io/<name> v0.<minor>.<patch> of the same release.
    """
    gomod = json.loads(
        go("mod", "edit", "-json", module_info(tool.module, tool.version)["GoMod"], cwd=WRAPPERS)
    )
    replaces: dict[str, str] = {}
    for rep in gomod.get("Replace") or []:
        old, new = rep["Old"]["Path"], rep["New"]
        if new.get("Version"):  # a published module: repeat it verbatim
            replaces[old] = f"{new['Path']}@{new['Version']}"
        elif new["Path"].startswith("./staging/src/"):
            replaces[old] = f"{old}@v0.{tool.version.split('.', 1)[1]}"
        elif new["Path"].startswith("../"):  # etcd's sibling modules, published at the same version
            replaces[old] = f"{old}@{tool.version}"
        # ./FORBIDDEN_DEPENDENCY style guards only matter inside upstream's own repository
    return replaces


def sync_wrapper(tool: Tool, tools: dict[str, Tool]) -> None:
    """(Re)write tools/go/<wrapper>/go.mod from the pin file and tidy it."""
    wdir = tool.wrapper_dir
    wdir.mkdir(parents=True, exist_ok=True)
    gomod = wdir / "go.mod"
    gomod.unlink(missing_ok=True)
    (wdir / "go.sum").unlink(missing_ok=True)
    go("mod", "init", f"glm-tts.tools/{tool.wrapper}", cwd=wdir)
    go("mod", "edit", f"-go={GO_VERSION}", f"-require={tool.module}@{tool.version}", cwd=wdir)
    for old, new in sorted(upstream_replaces(tool).items()):
        go("mod", "edit", f"-replace={old}={new}", cwd=wdir)
    packages = sorted({t.package for t in tools.values() if t.wrapper == tool.wrapper})
    imports = [p for p in packages if not p.startswith("glm-tts.tools/")]
    if imports and not (wdir / "main.go").exists():
        lines = "\n".join(f'\t_ "{p}"' for p in imports)
        (wdir / "tools.go").write_text(
            "//go:build tools\n\n"
            "// Package tools pins the main packages built from this wrapper module.\n"
            f"package tools\n\nimport (\n{lines}\n)\n"
        )
    go("mod", "tidy", cwd=wdir, env={**os.environ, "GOFLAGS": "-mod=mod -tags=tools"})
    print(f"synced {wdir.relative_to(ROOT)} ({tool.module} {tool.version})", flush=True)


def check_wrapper(tool: Tool) -> None:
    gomod = json.loads(go("mod", "edit", "-json", cwd=tool.wrapper_dir))
    pinned = {r["Path"]: r["Version"] for r in gomod.get("Require") or []}
    if pinned.get(tool.module) != tool.version:
        raise SystemExit(
            f"{tool.wrapper_dir.relative_to(ROOT)}/go.mod requires {tool.module} "
            f"{pinned.get(tool.module)}, {PIN_FILE.name} pins {tool.version}: "
            "run scripts/build_go_tools.py --sync"
        )


def ldflags(tool: Tool) -> str:
    extra = ""
    if tool.ldflags:
        major, minor = tool.version.lstrip("v").split(".")[:2]
        info = json.loads(Path(module_info(tool.module, tool.version)["Info"]).read_text())
        extra = tool.ldflags.format(version=tool.version, major=major, minor=minor, build_date=info["Time"])
    return f"-s -w {extra}".strip()


def build(tool: Tool, cache: Path) -> float:
    check_wrapper(tool)
    out = tool.binary(cache)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    start = time.monotonic()
    env = {**os.environ, "GOFLAGS": "-mod=readonly", "CGO_ENABLED": os.environ.get("CGO_ENABLED", "0")}
    go(
        "build",
        "-trimpath",
        f"-ldflags={ldflags(tool)}",
        "-o",
        str(tmp),
        tool.package,
        cwd=tool.wrapper_dir,
        env=env,
    )
    tmp.rename(out)  # only a complete binary ever carries the final name
    seconds = time.monotonic() - start
    record = {
        "module": tool.module,
        "version": tool.version,
        "package": tool.package,
        "build_seconds": round(seconds),
    }
    (out.parent / "build.json").write_text(json.dumps(record, indent=2) + "\n")
    return seconds


def link(tool: Tool, cache: Path, link_dirs: list[Path]) -> None:
    for directory in [cache / "bin", *link_dirs]:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / tool.name
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(tool.binary(cache))


def _plugin_command(plugin_yaml: Path) -> str:
    """The file name plugin.yaml runs on this platform (e.g. untt-linux-amd64)."""
    import platform

    import yaml

    spec = yaml.safe_load(plugin_yaml.read_text())
    system = platform.system().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    for entry in spec.get("platformCommand") or []:
        if entry.get("os") == system and entry.get("arch") == arch:
            return entry["command"].replace("$HELM_PLUGIN_DIR", "").lstrip("/\\")
    raise SystemExit(f"{plugin_yaml} has no command for {system}/{arch}")


def install_helm_plugin(tool: Tool, cache: Path, link_root: Path) -> None:
    """helm-unittest as an offline plugin: upstream's plugin.yaml plus our binary under the name it
    runs, in <cache>/helm-plugins/<plugin>/ (point HELM_PLUGINS there; never `helm plugin install`)."""
    source = Path(module_info(tool.module, tool.version)["Dir"])
    plugins = cache / f"helm-plugins-{tool.version}"
    plugin = plugins / "helm-unittest"
    plugin.mkdir(parents=True, exist_ok=True)
    # Upstream's plugin.yaml minus its install/update hooks: they download a release binary (we
    # never run `helm plugin install`), and helm 3.17 refuses the `platformHooks` key outright.
    import yaml

    spec = yaml.safe_load((source / "plugin.yaml").read_text())
    for key in ("platformHooks", "hooks"):
        spec.pop(key, None)
    (plugin / "plugin.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    command = plugin / _plugin_command(plugin / "plugin.yaml")
    command.unlink(missing_ok=True)
    command.symlink_to(tool.binary(cache))
    for flat in (cache / "helm-plugins", link_root / "helm-plugins"):
        flat.parent.mkdir(parents=True, exist_ok=True)
        if flat.is_symlink() or flat.exists():
            flat.unlink()
        flat.symlink_to(plugins)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="tools to build (default: all)")
    parser.add_argument("--sync", action="store_true", help="rewrite wrapper go.mod/go.sum from the pins")
    parser.add_argument("--link-dir", action="append", type=Path, help="also symlink binaries here")
    parser.add_argument("--force", action="store_true", help="rebuild even when the binary exists")
    args = parser.parse_args(argv)

    tools = load_tools()
    unknown = sorted(set(args.names) - set(tools))
    if unknown:
        parser.error(f"unknown tool(s) {', '.join(unknown)}; pinned: {', '.join(tools)}")
    selected = [tools[n] for n in (args.names or tools)]
    if shutil.which("go") is None:
        print("error: no `go` on PATH; install Go >= 1.26 to build the ecosystem tools", file=sys.stderr)
        return 2

    if args.sync:
        for wrapper in dict.fromkeys(t.wrapper for t in selected):
            sync_wrapper(next(t for t in selected if t.wrapper == wrapper), tools)
        return 0

    cache = cache_dir()
    link_dirs = args.link_dir or [ROOT / ".tools" / "bin"]
    for index, tool in enumerate(selected, 1):
        prefix = f"[{index}/{len(selected)}] {tool.name} {tool.version}"
        if tool.binary(cache).exists() and not args.force:
            print(f"{prefix}: cached ({tool.binary(cache)})", flush=True)
        else:
            print(f"{prefix}: building {tool.package} ...", flush=True)
            print(f"{prefix}: built in {build(tool, cache):.0f}s", flush=True)
        link(tool, cache, link_dirs)
        if tool.name == "helm-unittest":
            install_helm_plugin(tool, cache, ROOT / ".tools")
    return 0


if __name__ == "__main__":
    sys.exit(main())
