"""The import check: a generation that breaks an import in the base is never switched in.

The case it exists for: base packages compiled against the base's copy of a dependency break
at import when the overlay shadows that dependency, though every Requires-Dist is satisfied.
The factory's stand-in: ``pandalike`` raises on import unless ``numlike`` is 1.x.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.wheels import MakeWheel, WheelSpec
from overlock.base.env import probe
from overlock.prefix.state import current_generation
from overlock.sync.engine import sync
from overlock.sync.importcheck import ImportCheckError, modules_to_check, top_level_modules
from test_sync import FileFetcher, make_lock, run_overlay

NUMLIKE = "numlike/__init__.py"
PANDALIKE = "pandalike/__init__.py"

# Binary incompatibility, written out: what a compiled extension checks at import.
PANDALIKE_SRC = """\
import os
import numlike
if os.environ.get("OVERLOCK_TEST_MARK"):
    with open(os.environ["OVERLOCK_TEST_MARK"], "a") as f:
        f.write(numlike.__file__ + "\\n")
if not numlike.__version__.startswith("1."):
    raise ImportError(
        "pandalike was compiled against numlike 1.x; numlike.core._multiarray failed to import"
    )
__version__ = "1.0"
"""


def numlike(version: str, extra: str = "") -> WheelSpec:
    return WheelSpec(
        name="numlike",
        version=version,
        files={NUMLIKE: f'__version__ = "{version}"\n{extra}'},
    )


@pytest.fixture
def compiled_base(make_base: MakeBase, make_wheel: MakeWheel) -> Base:
    """numlike 1.0, pandalike 1.0 (needs numlike, any version, says its metadata), other 1.0."""
    return make_base(
        "venv",
        wheels=[
            make_wheel(numlike("1.0")),
            make_wheel(
                name="pandalike",
                version="1.0",
                requires=("numlike",),
                files={PANDALIKE: PANDALIKE_SRC},
            ),
            make_wheel(name="other", version="1.0"),
        ],
    )


def test_binary_incompatibility_aborts_the_switch(
    compiled_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(compiled_base.prefix)
    before = compiled_base.checksum()
    prefix = tmp_path / "ov"
    first = make_lock(make_wheel(name="beta", version="1.0"))
    sync(first, env, prefix, fetch=FileFetcher())

    bad = make_lock(make_wheel(name="beta", version="1.0"), make_wheel(numlike("2.0")))
    with pytest.raises(ImportCheckError) as caught:
        sync(bad, env, prefix, fetch=FileFetcher())

    message = caught.value.message
    assert "`import pandalike` of pandalike (base) fails" in message
    assert "numlike.core._multiarray failed to import" in message
    assert "most likely cause: numlike 2.0 shadowing base 1.0" in message
    assert "--no-verify-imports" in (caught.value.hint or "")
    assert "(add `numlike==1.0` to requires)" in (caught.value.hint or "")  # no placeholder
    [failure] = caught.value.failures
    assert failure.blamed == "numlike"
    # Nothing was switched and no half-built generation remains.
    assert current_generation(prefix) == 1
    assert not [p for p in prefix.parent.glob(".ov.overlock/gen-*") if p.name != "gen-1"]
    out = run_overlay(env, prefix, "import numlike, pandalike; print(numlike.__version__)")
    assert out.returncode == 0 and out.stdout.strip() == "1.0", out.stderr
    assert compiled_base.checksum() == before


def test_no_verify_imports_switches_anyway(
    compiled_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(compiled_base.prefix)
    prefix = tmp_path / "ov"
    lock = make_lock(make_wheel(numlike("2.0")))
    result = sync(lock, env, prefix, fetch=FileFetcher(), verify_imports=False)
    assert result.changed and current_generation(prefix) == 1
    out = run_overlay(env, prefix, "import pandalike")
    assert out.returncode != 0 and "compiled against numlike 1.x" in out.stderr


def test_compatible_shadow_is_imported_from_the_new_generation(
    compiled_base: Base, make_wheel: MakeWheel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = probe(compiled_base.prefix)
    before = compiled_base.checksum()
    mark = tmp_path / "imported-from"
    monkeypatch.setenv("OVERLOCK_TEST_MARK", str(mark))
    prefix = tmp_path / "ov"
    lock = make_lock(make_wheel(numlike("1.1")))
    assert sync(lock, env, prefix, fetch=FileFetcher()).changed
    # The base dependent was really imported, in the base interpreter, against the new
    # generation's copy (before the switch, so under gen-1.partial, not the prefix).
    [where] = mark.read_text().splitlines()
    assert "/.ov.overlock/gen-1.partial/" in where and where.endswith("numlike/__init__.py")
    assert compiled_base.checksum() == before  # -B: no byte-code written into the base


def test_the_shadowing_package_itself_failing_is_blamed_on_itself(
    compiled_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(compiled_base.prefix)
    broken = numlike("1.2", extra='raise RuntimeError("numlike 1.2 needs a newer libc")\n')
    with pytest.raises(ImportCheckError) as caught:
        sync(make_lock(make_wheel(broken)), env, tmp_path / "ov", fetch=FileFetcher())
    text = caught.value.message
    assert "`import numlike` of numlike (overlay) fails: RuntimeError: numlike 1.2 needs" in text
    assert "the overlay's numlike 1.2 (shadowing base 1.0) does not work with the base" in text
    assert not (tmp_path / "ov").exists()


def test_an_import_that_kills_the_interpreter_is_named(
    compiled_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(compiled_base.prefix)
    fatal = numlike("1.3", extra="import os\nos._exit(139)\n")
    with pytest.raises(ImportCheckError) as caught:
        sync(make_lock(make_wheel(fatal)), env, tmp_path / "ov", fetch=FileFetcher())
    [failure] = caught.value.failures
    assert failure.check.module == "numlike"
    assert "the interpreter died" in failure.error


def test_no_shadow_means_nothing_to_import(compiled_base: Base, make_wheel: MakeWheel) -> None:
    env = probe(compiled_base.prefix)
    lock = make_lock(make_wheel(name="beta", version="1.0"))
    assert modules_to_check(lock, env, {}) == []


def test_top_level_modules_from_installed_files() -> None:
    site = "lib/python3.11/site-packages"
    files = [
        f"{site}/numpy/__init__.py",
        f"{site}/numpy/core/_multiarray.cpython-311-x86_64-linux-gnu.so",
        f"{site}/numpy-2.0.dist-info/RECORD",
        f"{site}/six.py",
        f"{site}/_cffi_backend.cpython-311-x86_64-linux-gnu.so",
        f"{site}/tests/test_x.py",
        f"{site}/__pycache__/six.cpython-311.pyc",
        f"{site}/numpy.libs/libopenblas.so",
        f"{site}/distutils-precedence.pth",
        "bin/f2py",
    ]
    assert top_level_modules(files, [site]) == ("_cffi_backend", "numpy", "six")


def test_cli_sync_reports_the_broken_import_and_exits_1(
    compiled_base: Base,
    index: PackageIndex,
    tmp_path: Path,
    overlock: Callable[..., Run],
) -> None:
    index.add_spec(numlike("1.0"))
    index.add_spec(numlike("2.0"))
    before = compiled_base.checksum()
    manifest = write_manifest(tmp_path / "p", compiled_base, ["numlike>=2"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0

    run = overlock("sync", "-m", str(manifest))
    assert run.code == 1
    assert "`import pandalike` of pandalike (base) fails" in run.err
    assert "numlike 2.0 shadowing base 1.0" in run.err
    assert "hint:" in run.err and "Traceback" not in run.err
    prefix = tmp_path / "p" / "overlay"
    assert not [p for p in prefix.rglob("*") if p.name.startswith("gen-")]

    run = overlock("sync", "-m", str(manifest), "--no-verify-imports")
    assert run.code == 0, run.err
    assert compiled_base.checksum() == before
    [prefix] = [p for p in (tmp_path / "p" / "overlay").iterdir() if p.is_symlink()]
    assert current_generation(prefix) == 1
    out = run_overlay(
        probe(compiled_base.prefix), prefix, "import numlike; print(numlike.__version__)"
    )
    assert out.stdout.strip() == "2.0", out.stderr
