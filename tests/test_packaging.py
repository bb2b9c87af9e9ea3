"""What a package index gets: the sdist and wheel as built, their metadata, and README links."""

from __future__ import annotations

import ast
import email
import email.message
import importlib.metadata
import importlib.util
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
REPOSITORY = PROJECT["urls"]["Repository"]
PACKAGES = ("fallback_core", "langchain_fallback", "llamaindex_fallback")
PUBLISHED_EXTRAS = {
    "agents",
    "config",
    "langchain",
    "llamaindex",
    "otel",
    "prometheus",
    "redis",
    "testing",
}
DEVELOPMENT_GROUPS = {"bench", "demo", "dev", "live"}
READMES = [ROOT / "README.md", *(ROOT / package / "README.md" for package in PACKAGES[1:])]


@dataclass(frozen=True)
class Built:
    sdist: list[str]  # member paths, without the top folder
    sdist_license: str
    wheel: list[str]
    wheel_license: str
    metadata: email.message.Message


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist and the wheel built from it, by `python -m build` with the installed backend."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (sdist_path,) = out.glob("*.tar.gz")
    (wheel_path,) = out.glob("*.whl")
    with tarfile.open(sdist_path) as sdist:
        names = [m.name.split("/", 1)[1] for m in sdist.getmembers() if m.isfile()]
        top = sdist.getnames()[0].split("/", 1)[0]
        license_file = sdist.extractfile(f"{top}/LICENSE")
        assert license_file is not None
        sdist_license = license_file.read().decode()
    with zipfile.ZipFile(wheel_path) as wheel:
        members = wheel.namelist()
        (dist_info,) = {n.split("/", 1)[0] for n in members if ".dist-info/" in n}
        wheel_license = wheel.read(f"{dist_info}/licenses/LICENSE").decode()
        metadata = email.message_from_bytes(wheel.read(f"{dist_info}/METADATA"))
    return Built(names, sdist_license, members, wheel_license, metadata)


def test_license_is_in_the_repository_sdist_and_wheel(built: Built) -> None:
    """The MIT license text the metadata declares ships in the sdist and the wheel alike."""
    text = (ROOT / "LICENSE").read_text()

    assert PROJECT["license"] == "MIT"
    assert text.startswith("MIT License\n")
    assert built.sdist_license == text
    assert built.wheel_license == text
    assert built.metadata["License-Expression"] == "MIT"


def test_metadata_names_authors_urls_and_classifiers(built: Built) -> None:
    """The index page gets authors, the repository's URLs and classifiers."""
    urls = dict(value.split(", ", 1) for value in built.metadata.get_all("Project-URL") or [])
    classifiers = built.metadata.get_all("Classifier") or []

    assert built.metadata["Author"] == "fallback-chain maintainers"
    assert set(urls) == {"Homepage", "Repository", "Issues", "Changelog"}
    assert all(url.startswith(REPOSITORY) for url in urls.values())
    assert urls["Changelog"] == f"{REPOSITORY}/blob/main/CHANGELOG.md"
    assert {"Development Status :: 3 - Alpha", "Typing :: Typed"} <= set(classifiers)
    assert "Intended Audience :: Developers" in classifiers


def test_only_the_published_extras_are_published(built: Built) -> None:
    """dev, bench, live and demo are dependency groups of the repository, never extras."""
    extras = set(built.metadata.get_all("Provides-Extra") or [])

    assert extras == PUBLISHED_EXTRAS
    assert set(PYPROJECT["dependency-groups"]) == DEVELOPMENT_GROUPS
    assert DEVELOPMENT_GROUPS.isdisjoint(PROJECT["optional-dependencies"])


def test_sdist_holds_the_packages_and_documents_but_no_tests(built: Built) -> None:
    """The sdist leaves the suite out (it needs the repository), so nothing in it fails to run."""
    outside = {name for name in built.sdist if not name.startswith(("core/", *PACKAGES[1:]))}
    modules = [Path(name).name for name in built.sdist if name.endswith(".py")]

    assert outside == {
        "CHANGELOG.md",
        "LICENSE",
        "README.md",
        "PKG-INFO",
        "pyproject.toml",
        ".gitignore",
    }
    assert not [m for m in modules if m.startswith("test_") or m == "conftest.py"]
    assert "core/fallback_core/testing/pytest_plugin.py" in built.sdist  # a shipped fixture


def test_wheel_holds_exactly_the_three_typed_packages(built: Built) -> None:
    """The wheel installs our three packages, each with py.typed, and nothing else."""
    tops = {name.split("/", 1)[0] for name in built.wheel if ".dist-info/" not in name}

    assert tops == set(PACKAGES)
    assert all(f"{package}/py.typed" in built.wheel for package in PACKAGES)


def _links(markdown: str) -> Iterator[str]:
    yield from re.findall(r"\]\(([^)\s]+)\)", markdown)
    yield from re.findall(r"<(https?://[^>\s]+)>", markdown)


def test_readme_links_work_on_a_package_index() -> None:
    """Every link of every README is absolute; one into the repository names a file there."""
    raw = REPOSITORY.replace("https://github.com/", "https://raw.githubusercontent.com/")
    links = [link for readme in READMES if readme.exists() for link in _links(readme.read_text())]

    assert len(links) >= 3  # the adapter README, the chart, the license at least
    for link in links:
        assert link.startswith("https://"), f"{link} is relative: broken on a package index"
        for prefix in (f"{REPOSITORY}/blob/main/", f"{raw}/main/"):
            if link.startswith(prefix):
                assert (ROOT / link.removeprefix(prefix)).is_file(), link


def test_published_description_is_the_readme(built: Built) -> None:
    """The index shows README.md as it is in the repository, links and all."""
    assert built.metadata.get_payload() == (ROOT / "README.md").read_text()


def _distribution_of(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None, module
    assert spec.origin is not None, module
    origin = Path(spec.origin).resolve()
    candidates = importlib.metadata.packages_distributions().get(module.split(".")[0], [])
    for name in candidates:
        dist = importlib.metadata.distribution(name)
        for file in dist.files or ():
            if Path(str(dist.locate_file(file))).resolve() == origin:
                return Requirement(dist.metadata["Name"]).name.lower().replace("_", "-")
    raise AssertionError(f"no installed distribution holds {module}")


def test_demo_install_covers_exactly_what_the_demo_imports() -> None:
    """`make demo` installs the extras and the demo group the demo imports, not the dev group."""
    dry_run = subprocess.run(
        ["make", "-n", "-B", "demo", "VENV=/nonexistent-venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (install,) = [line for line in dry_run.splitlines() if "pip install" in line and "-e" in line]
    extras = re.search(r"-e '\.\[([a-z,]+)\]'", install)
    assert extras is not None, install
    groups = re.findall(r"--group (\w+)", install)
    requirements = [
        *(r for extra in extras[1].split(",") for r in PROJECT["optional-dependencies"][extra]),
        *(r for group in groups for r in PYPROJECT["dependency-groups"][group]),
    ]
    installed = {Requirement(r).name.lower() for r in requirements if isinstance(r, str)}

    tree = ast.parse((ROOT / "examples" / "demo.py").read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    third_party = {
        m
        for m in imported
        if m and m.split(".")[0] not in {*PACKAGES, *sys.stdlib_module_names, "__future__"}
    }

    assert groups == ["demo"]
    assert third_party, "the demo drives real provider clients"
    assert {_distribution_of(m) for m in third_party} <= installed
