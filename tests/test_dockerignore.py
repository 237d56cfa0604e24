"""`.dockerignore` keeps keys and `.env` files out of the image, and nothing the build needs.

The patterns are matched as Docker matches them (moby/patternmatcher: `*` and `?` within one
path element, `**` across any number, a directory's exclusion covering what it holds).
"""

from __future__ import annotations

import re
import subprocess

from hypothesis import given
from hypothesis import strategies as st

from tests.harness.project import REPO


def docker_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression Docker's pattern matcher uses for one .dockerignore line."""
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/"))
    wildcards = {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(part, re.escape(part)) for part in parts))


PATTERNS = [
    docker_pattern(line)
    for line in (REPO / ".dockerignore").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]


def ignored(path: str) -> bool:
    """Whether Docker leaves `path` (relative to the context) out of the build context."""
    elements = path.split("/")
    prefixes = ["/".join(elements[:n]) for n in range(1, len(elements) + 1)]
    return any(pattern.fullmatch(prefix) for pattern in PATTERNS for prefix in prefixes)


DIRECTORY = st.lists(st.from_regex(r"[a-z][a-z0-9_.-]{0,10}", fullmatch=True), max_size=3)
SECRET = st.one_of(
    st.from_regex(r"[a-z0-9_-]{1,12}\.(pem|key|p12|pfx|jks)", fullmatch=True),
    st.from_regex(r"\.env(\.[a-z0-9_-]{1,10})?", fullmatch=True),
    st.sampled_from(["id_rsa", "id_ed25519", "id_ecdsa.pub", ".pgpass", ".aws/credentials"]),
)


@given(directory=DIRECTORY, name=SECRET)
def test_secrets_anywhere_stay_out_of_the_image(directory: list[str], name: str) -> None:
    assert ignored("/".join([*directory, name]))


def test_every_tracked_file_goes_into_the_image() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [path for path in tracked if ignored(path)] == []
