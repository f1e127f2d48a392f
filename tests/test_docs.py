"""What a newcomer reads and runs first is true: the README's settings table is complete, its
``.env`` example survives ``docker run --env-file``, the licence is there, the first install
is quiet, and nothing cites a document the repository does not have."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from bot.settings import Settings
from providers.registry import PROVIDERS

ROOT = Path(__file__).resolve().parent.parent
BASH = shutil.which("bash") or "/bin/bash"
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def documented_settings() -> set[str]:
    """The variable names in the first column of the Configuration table."""
    return set(re.findall(r"^\| `([A-Z_<>]+)` \|", section("Configuration"), re.MULTILINE))


def test_the_settings_table_names_every_setting():
    documented = documented_settings()
    expected = {name.upper() for name in Settings.model_fields}
    for cls in PROVIDERS.values():
        settings = cls.settings_type
        extra = set(settings.model_fields) - {"api_key", "base_url", "timeout_seconds", "retry"}
        expected |= {settings.env_name(name) for name in extra}
    expected |= {"<NAME>_API_KEY", "<NAME>_BASE_URL", "<NAME>_TIMEOUT_SECONDS"}
    expected |= {"LOG_FORMAT", "METRICS_HOST", "METRICS_PORT"}  # the metrics listener's
    assert expected - documented == set()


def test_the_settings_table_gives_the_defaults():
    table = section("Configuration")
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, int | float) and not isinstance(default, bool):
            row = next(
                line for line in table.splitlines() if line.startswith(f"| `{name.upper()}`")
            )
            assert f"`{default:g}`" in row, row


def test_the_env_example_has_no_inline_comments():
    block = re.search(r"Create a `\.env` file.*?```bash\n(.*?)```", README, re.DOTALL)
    assert block is not None
    lines = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert re.fullmatch(r"[A-Z_]+=\S+", line), f"{line!r}: --env-file would keep it literally"
    assert "--env-file" in README[block.end() : block.end() + 400]  # and says why


def test_the_readme_says_where_each_key_is_obtained():
    providers = section("Providers and models")
    for link in (
        "https://www.freepik.com/developers/dashboard/api-key",
        "https://nanobananaapi.ai/api-key",
        "https://aistudio.google.com/app/apikey",
    ):
        assert link in providers
    for cls in PROVIDERS.values():
        if cls.needs_key:
            assert f"`{cls.settings_type.env_name('api_key')}`:" in providers


def test_the_readme_names_the_ports():
    ports = section("Configuration")
    assert "### Ports" in ports
    for name in ("CALLBACK_HOST:CALLBACK_PORT", "METRICS_HOST:METRICS_PORT", "8080", "8081"):
        assert name in ports


def test_the_licence_is_mit_as_pyproject_says():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License")
    assert "the bananabot authors" in licence


def test_the_console_command_and_the_container_run_it():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"] == {"bananabot": "bot.cli:main"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["bananabot", "run"]' in dockerfile
    assert "--demo-without-token" in (ROOT / "scripts/run").read_text()


def test_nothing_cites_a_design_document_the_repository_lacks():
    name = "DESIGN" + ".md"
    if (ROOT / name).exists():
        pytest.skip(f"the repository has a {name}")
    skipped = {".venv", ".git", ".mypy_cache", ".ruff_cache", ".pytest_cache", "build"}
    citing = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*")
        if not skipped & set(path.relative_to(ROOT).parts)
        and (path.suffix in (".py", ".md", ".sh", ".toml") or path.name == "Dockerfile")
        and path.is_file()
        and name in path.read_text(errors="replace")
    ]
    assert citing == []


# ---------------------------------------------------------------- the first install


def fake_project(tmp_path: Path, pip_exit: int) -> Path:
    """A directory with a pyproject.toml and a .venv whose "python" is a noisy stand-in for
    pip, exiting with ``pip_exit``."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(
        "#!/bin/sh\n"
        'echo "Collecting lots of things $*"\n'
        'echo "WARNING: pip noise" >&2\n'
        f"exit {pip_exit}\n"
    )
    python.chmod(0o755)
    return tmp_path


def ensure_venv(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, "-c", f"source {ROOT / 'scripts/_venv.sh'} && ensure_venv"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_first_install_says_one_line_and_hides_pip(tmp_path):
    project = fake_project(tmp_path, pip_exit=0)
    result = ensure_venv(project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("bananabot: installing into .venv")
    assert (project / ".venv/.installed-base").exists()
    again = ensure_venv(project)  # installed: silent
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_a_failed_install_shows_pips_output(tmp_path):
    project = fake_project(tmp_path, pip_exit=1)
    result = ensure_venv(project)
    assert result.returncode != 0
    assert "Collecting lots of things" in result.stderr
    assert "WARNING: pip noise" in result.stderr
    assert "installing failed" in result.stderr
    assert not (project / ".venv/.installed-base").exists()
