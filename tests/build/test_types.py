"""The TypeScript declarations of window.analytics (web/types/): an example page script that uses
every call of the API type-checks under `tsc --strict`, and each misuse it marks `@ts-expect-error`
is reported (tsc fails on an expected error that does not come)."""

import json
import shutil
import subprocess

from visitrail.collector import assets

TYPES = assets.ROOT / "web" / "types"
TSC = assets.ROOT / "node_modules" / "typescript" / "bin" / "tsc"


def test_the_example_type_checks_and_every_misuse_is_an_error():
    assert shutil.which("node") and TSC.exists(), "node and node_modules/ (npm ci) are needed"
    result = subprocess.run(["node", str(TSC), "-p", str(TYPES / "tsconfig.json")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (TYPES / "example.ts").read_text().count("@ts-expect-error") >= 5


def test_the_declarations_name_every_call_of_the_api_and_are_served_beside_the_tag():
    declarations = (TYPES / "index.d.ts").read_text()
    for call in ("identify(", "track(", "page(", "group(", "alias(", "reset(", "rotate(", "setAnonymousId(",
                 "user(", "session(", "flush(", "ready(", "debug(", "decorate(", "consent: Consent"):  # fmt: skip
        assert call in declarations, call
    assets.build(if_stale=True)
    assert (assets.DIST / "visitrail.d.ts").read_text() == declarations
    package = json.loads((TYPES / "package.json").read_text())
    assert package["types"] == "index.d.ts" and "index.d.ts" in package["files"]
