"""Build web/dist/: everything a page loads, self-hosted (no CDN).

    python build.py

    web/dist/loader.js                      web/loader.js minified, the module list baked in
    web/dist/pyscript/*.js, core.css        @pyscript/core's dist (no source maps)
    web/dist/micropython/micropython.{mjs,wasm}
    web/dist/visitrail/...                  the browser SDK: BROWSER_MODULES below

web/dist/ is replaced as a whole: the old one is moved aside only once the new one is complete.

The runtimes come from node_modules/ (`npm ci`); the collector serves web/dist/ at /analytics/.
"""

import ast
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NODE = ROOT / "node_modules"
SDK = ROOT / "sdk" / "visitrail"
DIST = ROOT / "web" / "dist"

# The Python modules that run in the page, relative to sdk/visitrail/, without ".py".
# `boot` is the entry script; the others are written into the interpreter's file system.
# Not here on purpose: collector/ and demo.py (CPython servers), platforms/memory.py (tests).
BROWSER_MODULES = [
    "__init__",
    "platform",
    "ids",
    "backoff",
    "calls",
    "events",
    "storage",
    "identity",
    "session",
    "queue",
    "client",
    "boot",
    "platforms/__init__",
    "platforms/pyscript",
]
ENTRY = "boot"

PYSCRIPT = NODE / "@pyscript" / "core" / "dist"
MICROPYTHON = NODE / "@micropython" / "micropython-webassembly-pyscript"

# web/loader.js holds this placeholder where the build bakes in [version, [module, ...]].
MANIFEST_PLACEHOLDER = "/*MANIFEST*/0"


class BuildError(Exception):
    pass


def imported_modules(path, name):
    """The visitrail.* modules a source file imports, as BROWSER_MODULES names."""
    package = name.rsplit("/", 1)[0].split("/") if "/" in name else []
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                parts = base + (node.module.split(".") if node.module else [])
                # `from . import x` may name a module or an attribute of the package.
                targets = ["visitrail." + ".".join(parts + [a.name]) for a in node.names]
                targets.append("visitrail." + ".".join(parts) if parts else "visitrail")
            else:
                targets = [node.module] + [node.module + "." + a.name for a in node.names]
        else:
            continue
        for target in targets:
            if target == "visitrail" or target.startswith("visitrail."):
                found.add(target)
    modules = set()
    for target in found:
        rel = target.split(".")[1:]
        for candidate in ("/".join(rel), "/".join(rel + ["__init__"])):
            if candidate and (SDK / (candidate + ".py")).exists():
                modules.add(candidate)
        if not rel:
            modules.add("__init__")
    return modules


def check_modules():
    missing = [m for m in BROWSER_MODULES if not (SDK / (m + ".py")).exists()]
    if missing:
        raise BuildError("BROWSER_MODULES lists modules that do not exist: " + ", ".join(missing))
    listed = set(BROWSER_MODULES)
    for name in BROWSER_MODULES:
        unlisted = imported_modules(SDK / (name + ".py"), name) - listed
        if unlisted:
            raise BuildError(
                f"sdk/visitrail/{name}.py imports {', '.join(sorted(unlisted))}, which the browser "
                "would not have: add it to BROWSER_MODULES in build.py"
            )


WORD = re.compile(r"[A-Za-z0-9_$]")
# After one of these, a "/" starts a regular expression literal rather than a division.
REGEX_AFTER = set("(,=:[!&|?{};") | {""}


def minify_js(source):
    """Comments and whitespace out, nothing renamed: a small tokenizer, enough for loader.js.

    Strings and regular expression literals are copied untouched; a space is kept only where two
    tokens would otherwise merge (`var a`, `a + +b`). The source must not rely on automatic
    semicolon insertion, since newlines go too; `node --check` vets the result when node is
    installed. `/*! ... */` (the licence line) is kept.
    """
    out = []
    i, n = 0, len(source)
    last = ""  # the last significant character written

    def emit(token):
        nonlocal last
        if out and (WORD.match(token[0]) and WORD.match(last) or token[0] in "+-" and last == token[0]):
            out.append(" ")
        out.append(token)
        last = token[-1]

    while i < n:
        c = source[i]
        if c in " \t\r\n":
            i += 1
        elif source.startswith("//", i):
            i = source.find("\n", i) if "\n" in source[i:] else n
        elif source.startswith("/*", i):
            j = source.index("*/", i) + 2
            if source.startswith("/*!", i):
                out.append(source[i:j] + "\n")
            i = j
        elif c in "'\"" or (c == "/" and last in REGEX_AFTER):
            j = i + 1
            in_class = False
            while source[j] != c or in_class:
                if source[j] == "\\":
                    j += 1
                elif c == "/" and source[j] in "[]":
                    in_class = source[j] == "["
                elif source[j] == "\n":
                    raise BuildError(f"unterminated literal in loader.js at offset {i}")
                j += 1
            j += 1
            while c == "/" and j < n and WORD.match(source[j]):  # regex flags
                j += 1
            emit(source[i:j])
            i = j
        elif WORD.match(c):
            j = i
            while j < n and WORD.match(source[j]):
                j += 1
            emit(source[i:j])
            i = j
        elif source.startswith(("++", "--"), i):
            emit(source[i:i + 2])
            i += 2
        else:
            emit(c)
            i += 1
    return "".join(out) + "\n"


def build_loader(version):
    source = (ROOT / "web" / "loader.js").read_text()
    if source.count(MANIFEST_PLACEHOLDER) != 1:
        raise BuildError(f"web/loader.js must contain {MANIFEST_PLACEHOLDER} exactly once")
    modules = [m for m in BROWSER_MODULES if m != ENTRY]
    manifest = json.dumps([version, modules], separators=(",", ":"))
    return minify_js(source.replace(MANIFEST_PLACEHOLDER, manifest))


def build():
    if not NODE.is_dir() or not PYSCRIPT.is_dir() or not MICROPYTHON.is_dir():
        raise BuildError("node_modules/ is missing or incomplete: run npm ci first")
    check_modules()

    digest = hashlib.sha256()
    for name in BROWSER_MODULES:
        digest.update(name.encode() + b"\0" + (SDK / (name + ".py")).read_bytes())
    version = digest.hexdigest()[:10]

    # Written next to web/dist/ and swapped in with two renames, so that a page (or a test run)
    # loading from web/dist/ meanwhile never sees it half-written.
    staging = DIST.with_name(f"dist.new-{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    written = []

    def write(rel, data):
        path = staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append((rel, data))

    write("loader.js", build_loader(version).encode())
    if shutil.which("node"):
        check = subprocess.run(["node", "--check", str(staging / "loader.js")], capture_output=True, text=True)
        if check.returncode:
            shutil.rmtree(staging)
            raise BuildError("web/dist/loader.js does not parse:\n" + check.stderr)
    for src in sorted(PYSCRIPT.iterdir()):
        if src.suffix == ".js" or src.name == "core.css":
            write("pyscript/" + src.name, src.read_bytes())
    for name in ("micropython.mjs", "micropython.wasm"):
        write("micropython/" + name, (MICROPYTHON / name).read_bytes())
    for name in BROWSER_MODULES:
        write("visitrail/" + name + ".py", (SDK / (name + ".py")).read_bytes())

    old = DIST.with_name(f"dist.old-{os.getpid()}")
    if DIST.exists():
        DIST.rename(old)
    staging.rename(DIST)
    if old.exists():
        shutil.rmtree(old)
    return version, written


def report(version, written):
    print(f"web/dist/ (SDK version {version}):")
    groups = {}
    for rel, data in written:
        groups.setdefault(rel.split("/")[0] if "/" in rel else rel, []).append((rel, data))
    total = total_gz = 0
    for group, files in groups.items():
        raw = sum(len(d) for _, d in files)
        gz = sum(len(gzip.compress(d, 9)) for _, d in files)
        total += raw
        total_gz += gz
        label = group if len(files) == 1 else f"{group}/ ({len(files)} files)"
        print(f"  {label:32} {raw:>10,} B  {gz:>9,} B gzip -9")
    print(f"  {'total':32} {total:>10,} B  {total_gz:>9,} B gzip -9")


def main():
    try:
        version, written = build()
    except BuildError as exc:
        print("build.py: " + str(exc), file=sys.stderr)
        return 1
    report(version, written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
