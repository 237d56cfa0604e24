"""`make run`, `make orchestrate` and `make worker` give the checkout a masking key once.

Without a key in the environment or in `.env`, each writes a fresh random key into `.env`
(`python -m localenv key`, their first step) and says so; a configured key always wins. The
recipe line is taken from make itself (`make -n` in a copy of the Makefile) and run as make
would, from a scrubbed environment.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from typing import TYPE_CHECKING

import pytest
from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localenv.mask_key import GENERATED, VARIABLE, ensure_mask_key
from tap_sqs_logins.privacy.masking import check_key
from tests.harness.project import REPO, scrubbed

if TYPE_CHECKING:
    from pathlib import Path

TARGETS = ("run", "orchestrate", "worker")
SCRUBBED = scrubbed()


def checkout(workdir: Path) -> Path:
    """A directory with the Makefile, and the project's .venv and localenv linked in."""
    shutil.copy(REPO / "Makefile", workdir / "Makefile")
    for name in (".venv", "localenv"):
        (workdir / name).symlink_to(REPO / name)
    return workdir


def recipe(workdir: Path, target: str) -> list[str]:
    """The commands `make <target>` runs (its prerequisites taken as built)."""
    result = subprocess.run(
        ["make", "-n", "-o", ".meltano/.installed", target],  # noqa: S607
        cwd=workdir,
        env=SCRUBBED,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def key_step(workdir: Path, target: str, **env: str) -> str:
    """Run the masking-key step of `make <target>` as make does; return its output."""
    command = recipe(workdir, target)[0]
    assert command == f"{workdir}/.venv/bin/python -m localenv key"
    result = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=workdir,
        env={**SCRUBBED, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize("target", TARGETS)
def test_the_key_step_comes_before_the_job(tmp_path: Path, target: str) -> None:
    commands = recipe(checkout(tmp_path), target)
    assert commands[0].endswith("-m localenv key")
    assert not any("DEMO" in line or VARIABLE in line for line in commands)


@pytest.mark.parametrize("target", TARGETS)
def test_without_a_key_one_is_generated_into_dotenv_once(tmp_path: Path, target: str) -> None:
    workdir = checkout(tmp_path)
    assert key_step(workdir, target) == GENERATED + "\n"
    dotenv = workdir / ".env"
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    key = dotenv_values(dotenv)[VARIABLE]
    assert key is not None
    assert len(key) >= 32
    check_key(key)
    written = dotenv.read_bytes()

    assert key_step(workdir, target) == ""  # the next make keeps it
    assert dotenv.read_bytes() == written


def test_each_checkout_gets_its_own_key(tmp_path: Path) -> None:
    keys = set()
    for n in range(3):
        (tmp_path / str(n)).mkdir()
        workdir = checkout(tmp_path / str(n))
        key_step(workdir, "run")
        keys.add(dotenv_values(workdir / ".env")[VARIABLE])
    assert len(keys) == 3


def test_a_key_in_the_environment_wins(tmp_path: Path) -> None:
    workdir = checkout(tmp_path)
    assert key_step(workdir, "orchestrate", **{VARIABLE: "from-the-shell-0123456"}) == ""
    assert not (workdir / ".env").exists()


@pytest.mark.parametrize(
    "line",
    [
        f"{VARIABLE}=a-real-key-from-dotenv-0123",
        f"export {VARIABLE}='a-real-key-from-dotenv-0123'",
        f'  {VARIABLE}="a-real-key-from-dotenv-0123"',
    ],
)
def test_a_key_in_dotenv_wins(tmp_path: Path, line: str) -> None:
    workdir = checkout(tmp_path)
    (workdir / ".env").write_text(f"OTHER=1\n{line}\n")
    assert key_step(workdir, "worker") == ""
    assert (workdir / ".env").read_text() == f"OTHER=1\n{line}\n"


# Lines of a .env that set other variables, or comment the key out.
OTHER_LINES = st.lists(
    st.one_of(
        st.from_regex(r"[A-Z][A-Z0-9_]{0,20}=[A-Za-z0-9_./:-]{0,30}", fullmatch=True).filter(
            lambda line: not line.startswith(VARIABLE + "=")
        ),
        st.just(f"# {VARIABLE}=an-old-key-commented-out"),
        st.just(f"#{VARIABLE}=another-old-key-0123456"),
        st.just(""),
    ),
    max_size=6,
)
KEY_LINE = st.tuples(
    st.sampled_from(["", "export ", "  "]),
    st.sampled_from(["{}", "'{}'", '"{}"']),
    st.from_regex(r"[A-Za-z0-9_-]{16,60}", fullmatch=True),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=OTHER_LINES, key_line=st.none() | KEY_LINE, after=OTHER_LINES, newline=st.booleans())
def test_any_dotenv(
    tmp_path_factory: pytest.TempPathFactory,
    before: list[str],
    key_line: tuple[str, str, str] | None,
    after: list[str],
    newline: bool,
) -> None:
    """A configured key is never replaced; otherwise one is added and nothing else changes."""
    project = tmp_path_factory.mktemp("project")
    if key_line:
        before = [*before, f"{key_line[0]}{VARIABLE}={key_line[1].format(key_line[2])}"]
    lines = before + after
    text = "\n".join(lines) + ("\n" if newline and lines else "")
    (project / ".env").write_text(text)
    previous = dotenv_values(project / ".env")

    generated = ensure_mask_key(project, {})

    values = dotenv_values(project / ".env")
    assert generated == (key_line is None)
    if key_line:
        assert (project / ".env").read_text() == text
        assert values[VARIABLE] == key_line[2]
    else:
        assert (project / ".env").read_text().startswith(text)
        check_key(values[VARIABLE])
        assert {k: v for k, v in values.items() if k != VARIABLE} == {
            k: v for k, v in previous.items() if k != VARIABLE
        }
