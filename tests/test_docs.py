"""The documents: every link and every file they name exists; README.md stays a front page."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FRONT_PAGE_LINES = range(130, 221)
GONE = ("PLAN.md", "README-orchestration.md")

FENCE = re.compile(r"^```.*?^```[^\n]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.MULTILINE)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
EXTENSION = re.compile(r"\.[A-Za-z0-9]+$")
NOT_A_PATH = re.compile(r"[\s<>…*$={}|,;()\[\]'\"]|://")


def git(*args: str, stdin: str = "") -> list[str]:
    """The lines `git <args>` prints in the repository, given `stdin`."""
    return subprocess.run(
        ["git", *args],  # noqa: S607
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        check=args[0] != "check-ignore",  # it exits 1 when it matches nothing
    ).stdout.splitlines()


DOCUMENTS = sorted(
    name
    for name in git("ls-files", "--cached", "--others", "--exclude-standard", "*.md")
    if (REPO / name).is_file()
)
TOP_DIRS = {name.split("/", 1)[0] for name in git("ls-files") if "/" in name}


def prose(text: str) -> str:
    """The text without its fenced code blocks (commands and diagrams, not references)."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    """The anchors GitHub gives the headings of `document` (repeats get -1, -2, ...)."""
    seen: dict[str, int] = {}
    result = set()
    for heading in HEADING.findall(prose(document.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def broken_links(document: Path) -> list[str]:
    """The relative links of `document` whose file or heading does not exist."""
    broken = []
    for target in LINK.findall(prose(document.read_text())):
        if SCHEME.match(target):
            continue
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
            broken.append(f"{target}: no heading #{anchor}")
    return broken


def looks_like_a_file(code: str) -> bool:
    """Whether a code span names a repository file: a path with an extension, or one under a
    top-level directory of the repository (placeholders, commands and URLs are not)."""
    if "/" not in code or NOT_A_PATH.search(code) or code.startswith(("~", "/", "-")):
        return False
    first = code.removeprefix("../").split("/", 1)[0]
    return bool(EXTENSION.search(code.rstrip("/"))) or first in TOP_DIRS


def missing_files(document: Path) -> list[str]:
    """The files `document` names in code spans that exist neither beside it nor from the
    repository's root, leaving out what git ignores (what a run creates, such as logs)."""
    named = {code for code in CODE.findall(prose(document.read_text())) if looks_like_a_file(code)}
    missing = sorted(
        code
        for code in named
        if not (document.parent / code).exists() and not (REPO / code).exists()
    )
    if not missing:
        return []
    as_dirs = [code.rstrip("/") + "/" for code in missing]  # `transform/target/` patterns
    ignored = set(git("check-ignore", "--no-index", "--stdin", stdin="\n".join(missing + as_dirs)))
    return [
        code for code, as_dir in zip(missing, as_dirs, strict=True) if not {code, as_dir} & ignored
    ]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_relative_link_resolves(name: str) -> None:
    assert broken_links(REPO / name) == []


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_file_a_document_names_exists(name: str) -> None:
    assert missing_files(REPO / name) == []


@pytest.mark.parametrize("name", DOCUMENTS)
def test_no_document_names_a_file_that_is_gone(name: str) -> None:
    text = (REPO / name).read_text()
    assert [gone for gone in GONE if gone in text] == []


def test_the_readme_is_a_front_page_with_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) in FRONT_PAGE_LINES
    assert "make run " in text
    assert "make test " in text
    assert (REPO / ".ci" / "run").read_text().splitlines()[-1] == "exec make test"


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    """A document with a dead link, a dead anchor and a missing file is caught, and what is
    not a reference (commands, placeholders, URLs, code blocks) is left alone."""
    (tmp_path / "other.md").write_text("# Other page\n\n## `make run`: twice\n")
    document = tmp_path / "doc.md"
    document.write_text(
        "# Title\n\n"
        "[ok](other.md#other-page) [ok](other.md#make-run-twice) [ok](#title) "
        "[ok](https://example.com/x.md) [dead](missing.md) [dead](other.md#nowhere)\n\n"
        "`tests/test_docs.py` `Makefile` `tests/nothing_here.py` `bench/none/` "
        "`make run` `<journal_dir>/<run id>.jsonl` `http://localhost:4566/q` `.localenv/x.log` "
        "`~/.aws/config`\n\n```sh\ncat tests/gone.py [x](gone.md)\n```\n"
    )
    assert broken_links(document) == [
        "missing.md: no such file",
        "other.md#nowhere: no heading #nowhere",
    ]
    assert missing_files(document) == ["bench/none/", "tests/nothing_here.py"]
