# mypy: disable-error-code="index, list-item"
# (name-keyed mappings are indexed with literal, already-normalized names like "urllib3")
"""Safety that does not depend on declared metadata.

Debian and conda strip or never write ``Requires-Dist``: base packages that import a shadowed
one are found from their own files (``.py`` imports, compiled extensions naming it), checked
at sync and again by ``overlock check``; a base ``.pth`` that loads a module at start-up (a
namespace package's ``-nspkg.pth``) is caught before it silently beats the overlay's copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.wheels import MakeWheel, WheelSpec
from overlock.base.env import probe
from overlock.base.importscan import ImportScan, importers_of, py_imports
from overlock.prefix.state import current_generation
from overlock.sync.engine import sync
from overlock.sync.importcheck import ImportCheckError, runtime_checks
from test_importcheck import PANDALIKE, PANDALIKE_SRC, numlike
from test_sync import FileFetcher, make_lock

SO = "cpython-311-x86_64-linux-gnu.so"


def silent_pandalike() -> WheelSpec:
    """pandalike as Debian ships it: imports numlike, declares nothing."""
    return WheelSpec(name="pandalike", version="1.0", files={PANDALIKE: PANDALIKE_SRC})


@pytest.fixture
def silent_base(make_base: MakeBase, make_wheel: MakeWheel) -> Base:
    return make_base(
        "venv",
        wheels=[
            make_wheel(numlike("1.0")),
            make_wheel(silent_pandalike()),
            make_wheel(name="other", version="1.0"),
        ],
    )


# -- what counts as an import ------------------------------------------------------------


def test_python_import_statements_are_read_from_the_bytes() -> None:
    source = b"""\
import os, numlike.core as nc, json
from scipylike.linalg import solve
    import indented
from . import sibling
from .relative import thing
x = "important"  # not a statement
def f():
    from late import y
"""
    assert py_imports(source) == {"os", "numlike", "json", "scipylike", "indented", "late"}
    assert py_imports(b"no statements here") == set()


# -- the scan ----------------------------------------------------------------------------


def test_a_dependent_whose_metadata_names_nothing_is_found_by_its_imports(
    silent_base: Base, tmp_path: Path
) -> None:
    env = probe(silent_base.prefix)
    assert env.by_name["pandalike"].requires == ()
    scan = ImportScan(env, tmp_path / "scan")
    assert importers_of(env, ["numlike"], scan=scan) == {"pandalike": ("numlike",)}
    assert importers_of(env, ["other"], scan=scan) == {}


def test_compiled_extensions_that_name_a_module_or_use_numpys_c_api(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    ext = WheelSpec(
        name="extlike",
        version="1.0",
        files={
            "extlike/__init__.py": "from ._core import *\n",
            f"extlike/_core.{SO}": b"\x7fELF\x00\x00PyInit__core\x00numlike.core._multiarray\x00",
        },
    )
    capi = WheelSpec(
        name="capilike",
        version="1.0",
        files={f"capilike.{SO}": b"\x7fELF\x00\x00PyInit_capilike\x00_ARRAY_API\x00"},
    )
    unrelated = WheelSpec(
        name="plainext",
        version="1.0",
        files={f"plainext.{SO}": b"\x7fELF\x00\x00PyInit_plainext\x00numlikeish\x00"},
    )
    base = make_base(
        "venv",
        wheels=[
            make_wheel(numlike("1.0")),
            make_wheel(name="numpy", version="1.24.2"),
            make_wheel(ext),
            make_wheel(capi),
            make_wheel(unrelated),
        ],
    )
    env = probe(base.prefix)
    scan = ImportScan(env, tmp_path / "scan")
    assert importers_of(env, ["numlike"], scan=scan) == {"extlike": ("numlike",)}
    assert importers_of(env, ["numpy"], scan=scan) == {"capilike": ("numpy",)}


def test_an_egg_info_without_a_file_list_is_scanned_through_its_top_level(
    silent_base: Base, tmp_path: Path
) -> None:
    # Debian's layout: setup.py-built .egg-info directories with no RECORD, no
    # installed-files.txt, no INSTALLER; only PKG-INFO and top_level.txt.
    site = silent_base.site_packages()
    silent_base.make_writable()
    (site / "debpkg").mkdir()
    (site / "debpkg" / "__init__.py").write_text("from debpkg import _impl\n")
    (site / "debpkg" / "_impl.py").write_text("def f():\n    import numlike\n")
    egg = site / "debpkg-2.1.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.2\nName: debpkg\nVersion: 2.1\n")
    (egg / "top_level.txt").write_text("debpkg\n")
    env = probe(silent_base.prefix)
    assert "debpkg" in env.by_name
    found = importers_of(env, ["numlike"], scan=ImportScan(env, tmp_path / "scan"))
    assert found == {"debpkg": ("numlike",), "pandalike": ("numlike",)}


def test_the_scan_is_cached_per_base_fingerprint(
    silent_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(silent_base.prefix)
    cache = tmp_path / "scan"
    assert importers_of(env, ["numlike"], scan=ImportScan(env, cache)) == {
        "pandalike": ("numlike",)
    }
    [entry] = cache.iterdir()
    # Edit the file without changing any version: the fingerprint is the same, so the cached
    # answer stands (proof that the second scan did not read the files again).
    silent_base.make_writable()
    (silent_base.site_packages() / PANDALIKE).write_text("x = 1\n")
    assert importers_of(env, ["numlike"], scan=ImportScan(env, cache)) == {
        "pandalike": ("numlike",)
    }
    # A base that changed is another fingerprint: scanned afresh.
    silent_base.install(make_wheel(name="newcomer", version="1.0"))
    changed = probe(silent_base.prefix)
    assert importers_of(changed, ["numlike"], scan=ImportScan(changed, cache)) == {}
    assert len(list(cache.iterdir())) == 2 and entry.exists()


# -- at sync -----------------------------------------------------------------------------


def test_sync_refuses_a_shadow_that_breaks_an_undeclared_importer(
    silent_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(silent_base.prefix)
    before = silent_base.checksum()
    lock = make_lock(make_wheel(numlike("2.0")))
    checks = runtime_checks(lock, env, {})
    assert [(c.module, c.layer, c.scanned) for c in checks if c.layer == "base"] == [
        ("pandalike", "base", ("numlike",))
    ]
    with pytest.raises(ImportCheckError) as caught:
        sync(lock, env, tmp_path / "ov", fetch=FileFetcher())
    text = caught.value.message
    assert "`import pandalike` of pandalike (base) fails" in text
    assert "pandalike's files import numlike; its metadata does not declare it" in text
    assert "most likely cause: numlike 2.0 shadowing base 1.0" in text
    assert not (tmp_path / "ov").exists()
    assert silent_base.checksum() == before


NSPKG_PTH = (
    "import sys, types, os;p = os.path.join(sys._getframe(1).f_locals['sitedir'], 'nsx');"
    "importlib = __import__('importlib.util');__import__('importlib.machinery');"
    "m = sys.modules.setdefault('nsx', importlib.util.module_from_spec("
    "importlib.machinery.PathFinder.find_spec('nsx', [os.path.dirname(p)])));"
    "mp = m.__dict__.setdefault('__path__', []);(p not in mp) and mp.append(p)\n"
)


def nsx(version: str, *, pth: bool = False) -> WheelSpec:
    return WheelSpec(
        name="nsx",
        version=version,
        files={"nsx/__init__.py": "", "nsx/part.py": f'version = "{version}"\n'},
        # Like matplotlib's wheel: its own -nspkg.pth appends the overlay's directory to the
        # __path__ of the module the base's .pth already created (the base's still wins).
        pth={f"nsx-{version}-nspkg.pth": NSPKG_PTH} if pth else {},
    )


def test_a_base_pth_that_preloads_a_shadowed_package_is_refused(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    base = make_base("venv", wheels=[make_wheel(nsx("1.0"))])
    base.make_writable()
    pth = base.site_packages() / "nsx-1.0-nspkg.pth"
    pth.write_text(NSPKG_PTH)
    env = probe(base.prefix)
    with pytest.raises(ImportCheckError) as caught:
        sync(make_lock(make_wheel(nsx("2.0", pth=True))), env, tmp_path / "ov", fetch=FileFetcher())
    text = caught.value.message
    assert "`import nsx` of nsx (overlay) fails" in text
    assert f"by the base's start-up file {pth}" in text
    assert "the overlay's copy of nsx (and its submodules) is never used" in text
    assert "Keep the base's copy of nsx" in (caught.value.hint or "")

    # Without the .pth the same shadow is fine: the guard is about the start-up file.
    pth.unlink()
    again = make_lock(make_wheel(nsx("2.0")))
    result = sync(again, probe(base.prefix), tmp_path / "ov2", fetch=FileFetcher())
    assert result.changed and current_generation(tmp_path / "ov2") == 1


# -- overlock check ----------------------------------------------------------------------


def test_check_is_not_all_well_over_an_overlay_whose_imports_fail(
    silent_base: Base,
    index: PackageIndex,
    tmp_path: Path,
    overlock: Callable[..., Run],
) -> None:
    index.add_spec(numlike("1.0"))
    index.add_spec(numlike("2.0"))
    manifest = write_manifest(tmp_path / "p", silent_base, ["numlike>=2"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0
    run = overlock("sync", "-m", str(manifest))
    assert run.code == 1 and "pandalike's files import numlike" in run.err
    run = overlock("sync", "-m", str(manifest), "--no-verify-imports")
    assert run.code == 0, run.err

    run = overlock("check", "-m", str(manifest))
    assert run.code == 1, run.out
    assert "all well" not in run.out
    failing = [line for line in run.out.splitlines() if "`import pandalike`" in line]
    assert len(failing) == 1, run.out  # each finding once
    assert failing[0].split()[:2] == ["✗", "imports"]
    assert "compiled against numlike 1.x" in failing[0]
    data = json.loads(overlock("check", "-m", str(manifest), "--json").out)
    [finding] = [f for f in data["findings"] if f["kind"] == "imports"]
    assert finding["subject"] == "pandalike"
    assert finding["data"]["found_by_import_scan"] == ["numlike"]
    assert finding["data"]["blamed"] == "numlike"


def test_check_ignores_top_level_entries_that_were_never_installed(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    index: PackageIndex,
    tmp_path: Path,
    overlock: Callable[..., Run],
) -> None:
    def kiwi(version: str) -> WheelSpec:
        spec = WheelSpec(name="kiwilike", version=version)
        return WheelSpec(
            name="kiwilike",
            version=version,
            files={
                "kiwilike/__init__.py": f'__version__ = "{version}"\n',
                f"{spec.dist_info}/top_level.txt": "kiwilike\nsrc\n",
            },
        )

    base = make_base("venv", wheels=[make_wheel(kiwi("1.0"))])
    index.add_spec(kiwi("1.0"))
    index.add_spec(kiwi("2.0"))
    manifest = write_manifest(tmp_path / "p", base, ["kiwilike>=2"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert overlock("sync", "-m", str(manifest)).code == 0
    run = overlock("check", "-m", str(manifest))
    assert run.code == 0, run.out
    assert "import src" not in run.out
    assert run.out.splitlines()[-1] == "all well"


def test_a_base_dependents_top_level_entries_never_installed_are_not_imported(
    make_base: MakeBase, make_wheel: MakeWheel
) -> None:
    # Debian's kiwisolver-0.0.0.dist-info/top_level.txt lists `src`, which is not installed.
    spec = WheelSpec(name="kiwilike", version="1.0")
    kiwi = WheelSpec(
        name="kiwilike",
        version="1.0",
        requires=("numlike",),
        files={
            "kiwilike/__init__.py": "import numlike\n",
            f"{spec.dist_info}/top_level.txt": "kiwilike\nsrc\n",
        },
    )
    base = make_base("venv", wheels=[make_wheel(numlike("1.0")), make_wheel(kiwi)])
    env = probe(base.prefix)
    assert "src" in env.by_name["kiwilike"].top_level
    checks = runtime_checks(make_lock(make_wheel(numlike("1.1"))), env, {})
    assert [(c.module, c.layer) for c in checks if c.dist == "kiwilike"] == [("kiwilike", "base")]
