"""`visitrail assets snippet` and collector/snippet.py: the inline snippet as a <script> element
with the tag's attributes, and the CSP source that allows exactly its text."""

import base64
import hashlib
import html.parser
import pathlib

import pytest

from visitrail.collector import snippet
from visitrail.collector.cli import main

STUB = "((w,d)=>{w.analytics={_vt:1}})(window,document)"


class Elements(html.parser.HTMLParser):
    """The <script> elements of a page as a browser's parser reads them: attributes, text."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append((dict(attrs), ""))
            self.open = True

    def handle_endtag(self, tag: str) -> None:
        self.open = False

    def handle_data(self, data: str) -> None:
        if self.open:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def parse(element: str) -> list[tuple[dict[str, str | None], str]]:
    parser = Elements()
    parser.feed(element)
    parser.close()
    return parser.scripts


@pytest.fixture
def assets_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / snippet.INLINE).write_text(STUB + "\n")
    return tmp_path


def test_the_element_carries_the_attributes_and_the_hash_is_of_its_text(assets_dir: pathlib.Path) -> None:
    attrs = {"write-key": 'k"1<&>', "endpoint": "https://c.example.com", "id-storage": "cookie"}
    element, source = snippet.inline_element(assets_dir, "https://c.example.com/analytics/loader.js", attrs)
    [(got, text)] = parse(element)
    assert text == STUB
    assert got == {
        "data-loader": "https://c.example.com/analytics/loader.js",
        "data-write-key": 'k"1<&>',
        "data-endpoint": "https://c.example.com",
        "data-id-storage": "cookie",
    }
    # What a browser compares a script-src hash with: SHA-256 of the element's text, base64.
    assert source == "'sha256-" + base64.b64encode(hashlib.sha256(STUB.encode()).digest()).decode() + "'"


@pytest.mark.parametrize("name", ["Write-Key", "write key", 'x"onload="alert(1)', "", "-a", "a--b"])
def test_a_name_that_is_no_data_attribute_is_refused(assets_dir: pathlib.Path, name: str) -> None:
    with pytest.raises(ValueError, match="not a data attribute name"):
        snippet.inline_element(assets_dir, "https://c/analytics/loader.js", {name: "v"})


def test_a_stub_that_would_end_the_element_is_refused(tmp_path: pathlib.Path) -> None:
    (tmp_path / snippet.INLINE).write_text('console.log("</SCRIPT><script>alert(1)")')
    with pytest.raises(ValueError, match="</script"):
        snippet.inline_element(tmp_path, "https://c/analytics/loader.js", {})


def test_the_command_prints_the_csp_source_and_the_element(
    assets_dir: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["assets", "snippet", "--endpoint", "https://c.example.com/", "--write-key", "K"]
    argv += ["--assets", str(assets_dir)]
    assert main([*argv, "--data", "data-id-storage=cookie", "--data", "domain=.example.com"]) == 0
    comment, element = capsys.readouterr().out.strip().split("\n")
    assert comment.startswith("<!-- Content-Security-Policy: script-src 'sha256-")
    assert snippet.script_hash(STUB) in comment
    [(attrs, text)] = parse(element)
    assert text == STUB
    assert attrs == {
        "data-loader": "https://c.example.com/analytics/loader.js",
        "data-endpoint": "https://c.example.com",
        "data-write-key": "K",
        "data-id-storage": "cookie",
        "data-domain": ".example.com",
    }


def test_the_command_explains_bad_input(assets_dir: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["assets", "snippet", "--endpoint", "https://c", "--write-key", "K"]
    assert main([*base, "--assets", str(assets_dir), "--data", "novalue"]) == 2
    assert "give NAME=VALUE" in capsys.readouterr().err
    assert main([*base, "--assets", str(assets_dir), "--data", "Bad Name=1"]) == 1
    assert "not a data attribute name" in capsys.readouterr().err
    assert main([*base, "--assets", str(assets_dir / "missing")]) == 1
    assert "inline.js" in capsys.readouterr().err
