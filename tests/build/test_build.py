"""What build.py leaves in web/dist/: the version every URL carries, the precompressed forms the
collector serves in place of a file, and the preload list runtime.js acts on."""

import gzip
import hashlib
import importlib.util
import json
import random
import re

import brotli
import pytest

from visitrail.collector import assets

_spec = importlib.util.spec_from_file_location("build", assets.ROOT / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


@pytest.fixture(scope="module")
def dist():
    assets.build(if_stale=True)
    return assets.DIST


def served_files(dist):
    return [p for p in dist.rglob("*") if p.is_file() and p.suffix not in (".br", ".gz")]


def test_the_loader_names_the_version_of_every_other_file(dist):
    version = (dist / "VERSION").read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{10}", version)
    assert f'"{version}"' in (dist / "loader.js").read_text()
    assert f'"v/{version}/visitrail/' in (dist / build.MPY_PACKAGE).read_text()
    # The version is a digest of what it names: a change to any file changes it.
    digest = hashlib.sha256()
    for path in sorted(served_files(dist), key=lambda p: p.relative_to(dist).as_posix()):
        rel = path.relative_to(dist).as_posix()
        if rel not in build.UNVERSIONED:
            digest.update(rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    assert digest.hexdigest()[:10] == version


def test_every_compressed_form_is_its_file(dist):
    forms = list(dist.rglob("*.br")) + list(dist.rglob("*.gz"))
    assert any(p.name == "micropython.wasm.br" for p in forms) and any(p.name == "loader.js.gz" for p in forms)
    for form in forms:
        original = form.with_suffix("").read_bytes()
        packed = form.read_bytes()
        assert (brotli.decompress(packed) if form.suffix == ".br" else gzip.decompress(packed)) == original, form
        assert len(packed) < 0.9 * len(original), form


def test_runtime_js_preloads_files_that_exist(dist):
    runtime_js = (dist / "runtime.js").read_text()
    preload = build.preloads()
    assert set(preload) == {"mpy", "py"}
    for runtime, files in preload.items():
        assert files[0] == ["pyscript/core.js", "module"]  # the root of PyScript's chain goes first
        for path, kind in files:
            assert (dist / path).is_file() and f'"{path}"' in runtime_js, (runtime, path)
            assert kind == ("module" if path.endswith((".js", ".mjs")) else "fetch")


def test_every_budget_is_kept_and_names_files_that_exist(dist):
    files = {p.relative_to(dist).as_posix(): p.read_bytes() for p in served_files(dist)}
    sizes = build.budget_sizes(files)
    assert set(sizes) == set(build.BUDGETS)
    for name, size in sizes.items():
        assert 0 < size <= build.BUDGETS[name], name


def test_a_file_over_its_budget_fails_the_build():
    incompressible = random.Random(1).randbytes(4000)
    grown = {"loader.js": incompressible, "visitrail/core/a.mpy": b"M", "brython/visitrail.js": b"x"}
    with pytest.raises(build.BuildError, match=rf"loader\.js: .* budget {build.BUDGETS['loader.js']:,} B"):
        build.check_budgets(grown)
    build.check_budgets(grown, {**build.BUDGETS, "loader.js": 20_000})  # within a larger budget


def test_the_mpy_package_names_the_sdks_bytecode_of_this_version(dist):
    """visitrail-mpy.json, for a PyScript + MicroPython page without the tag (its `packages`):
    every page module but the tag's entry, as .mpy, where the page imports it from."""
    version = (dist / "VERSION").read_text().strip()
    package = json.loads((dist / build.MPY_PACKAGE).read_text())
    assert package["name"] == "visitrail"
    modules = [m for m in build.BROWSER_MODULES if m != "browser/boot"]
    assert package["files"] == {f"v/{version}/visitrail/{m}.mpy": f"./visitrail/{m}.mpy" for m in modules}
    assert all((dist / src.split("/", 2)[2]).is_file() for src in package["files"])
    assert "browser/native" in modules and "core/page_config" in modules


def test_the_tags_files_leave_out_what_only_a_page_without_the_tag_uses(dist):
    runtime_js = (dist / "runtime.js").read_text()
    bundle = (dist / "brython" / "visitrail.js").read_text()
    for module in build.NATIVE_ONLY:
        assert (dist / "visitrail" / (module + ".mpy")).is_file() and (dist / "visitrail" / (module + ".py")).is_file()
        assert f'"{module}"' not in runtime_js and module + ".mpy" not in runtime_js
        assert '"visitrail.' + module.replace("/", ".") + '"' not in bundle
    assert '"browser/bridge"' in runtime_js and '"visitrail.browser.bridge"' in bundle


def test_pyodides_lock_names_the_wheels_beside_it_by_their_hashes(dist):
    """loadPackage("micropip") (PyScript's `packages`) fetches the lock's file_name next to it and
    checks it against the lock's sha256: PyPI's wheels, with PyPI's hashes, not Pyodide's."""
    lock = json.loads((dist / "pyodide" / "pyodide-lock.json").read_text())
    original = json.loads((assets.ROOT / "node_modules" / "pyodide" / "pyodide-lock.json").read_text())
    for name, (version, sha256) in build.PYODIDE_WHEELS.items():
        entry = lock["packages"][name]
        wheel = dist / "pyodide" / entry["file_name"]
        assert entry["version"] == version and wheel.is_file()
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == entry["sha256"] == sha256
        assert original["packages"][name]["sha256"] != sha256  # why the lock is rewritten
    assert "micropip" in lock["packages"] and lock["packages"]["micropip"]["depends"] == []
    # Nothing else of the lock changed.
    for name in build.PYODIDE_WHEELS:
        lock["packages"][name]["sha256"] = original["packages"][name]["sha256"]
    assert lock == original


def test_the_inline_snippet_is_the_stub_without_a_version(dist):
    inline = (dist / build.INLINE).read_text()
    version = (dist / "VERSION").read_text().strip()
    # Pasted into pages, it outlives this build: the version comes from the loader.js it fetches.
    assert version not in inline and f'"{version}"' in (dist / "loader.js").read_text()
    assert "</script" not in inline.lower() and not inline.endswith((";", "\n"))
    assert ".loader" in inline and "currentScript.src" not in inline and "._go" in inline
