"""overlock end to end, on this machine, in under a minute, with no network by default.

What it does, printing each step:

1. builds a small *read-only base* environment (``python -m venv``) holding ``scanlib 1.4.0``,
   which requires ``hdfio>=2,<3``, and ``hdfio 2.1.0`` -- the situation of a root-owned
   facility environment;
2. serves a package index of real wheels on 127.0.0.1 (the test harness's index);
3. writes an ``overlay.toml`` asking for ``hdfio>=3`` (a hot-fix upgrade);
4. ``overlock lock``: the resolver sees that base ``scanlib 1.4.0`` caps ``hdfio<3``, so it
   shadows ``scanlib`` with ``1.5.0`` too -- where ``pip install -I --no-deps --prefix``
   would have silently broken it;
5. ``overlock sync`` materializes the lock into the overlay prefix;
6. ``overlock run -- python ...`` imports the shadowing versions from the base interpreter;
7. checks that the base tree is byte-for-byte unchanged.

Against a real index instead (the same story with ``requests``/``urllib3``)::

    python examples/quickstart.py --index-url https://pypi.org/simple

Exit status is non-zero if any step does not behave as described.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))  # the test harness builds the demo's wheels, base and index

from harness.bases import Base, make_venv_base  # noqa: E402
from harness.index import PackageIndex  # noqa: E402
from harness.wheels import WheelSpec, build_wheel  # noqa: E402

OVERLAY_TOML = """\
# overlay.toml -- what this overlay adds to or upgrades in its base (commit it to git).
[overlay]
base = "{base}"        # the read-only environment the overlay sits on
prefix = "overlays/{{name}}"       # where `overlock sync` puts the packages
name = "quickstart"
requires = [
    "{request}",  # the hot-fix: a newer release than the base has
]

[index]                            # where packages come from (default: your pip config)
urls = ["{index}"]

[resolve]
shadow = "auto"                    # base packages may be shadowed when the request needs it
"""


def step(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m" if sys.stdout.isatty() else f"\n==> {text}", flush=True)


def overlock(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "overlock", *args]
    print("$ overlock " + " ".join(args), flush=True)
    proc = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True)
    sys.stdout.write(proc.stdout)
    sys.stdout.write(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"quickstart: `overlock {' '.join(args)}` failed ({proc.returncode})")
    return proc


def local_scenario(work: Path) -> tuple[Base, PackageIndex, str, dict[str, str]]:
    wheels = work / "wheels"
    index = PackageIndex(work / "index").start()
    specs = [
        WheelSpec("hdfio", "2.1.0"),
        WheelSpec("hdfio", "3.0.0"),
        WheelSpec("scanlib", "1.4.0", requires=("hdfio>=2,<3",)),
        WheelSpec("scanlib", "1.5.0", requires=("hdfio>=2,<4",)),
    ]
    built = {(s.name, s.version): build_wheel(s, wheels) for s in specs}
    for path in built.values():
        index.add(path)
    base = make_venv_base(work / "base", [built[("hdfio", "2.1.0")], built[("scanlib", "1.4.0")]])
    expect = {"hdfio": "3.0.0", "scanlib": "1.5.0"}
    return base, index, "hdfio>=3", expect


def real_scenario(work: Path, index_url: str) -> tuple[Base, None, str, dict[str, str]]:
    base_dir = work / "base"
    subprocess.run([sys.executable, "-m", "venv", str(base_dir)], check=True)
    subprocess.run(
        [
            str(base_dir / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--index-url",
            index_url,
            "requests==2.28.2",
        ],
        check=True,
    )
    base = Base(prefix=base_dir, python=base_dir / "bin" / "python", kind="venv")
    return base, None, "urllib3>=2", {"urllib3": "2.", "requests": "2."}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-url", help="use this real index instead of a local one")
    parser.add_argument("--workdir", type=Path, help="keep the demo here (default: a temp dir)")
    args = parser.parse_args()

    work = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="overlock-"))
    if work.exists():
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHONPATH"))}
    env["OVERLOCK_CACHE_DIR"] = str(work / "cache")

    index = None
    base: Base | None = None
    try:
        step("1. a read-only base environment")
        if args.index_url:
            base, index, request, expect = real_scenario(work, args.index_url)
            index_url = args.index_url
        else:
            base, index, request, expect = local_scenario(work)
            index_url = index.url
        base.make_readonly()
        before = base.checksum()
        listing = base.run(
            "import importlib.metadata as m; print(', '.join(sorted("
            "f'{d.metadata[\"Name\"]} {d.version}' for d in m.distributions())))"
        )
        print(f"base {base.prefix}: {listing.stdout.strip()}")

        step("2. overlay.toml: ask for " + request)
        project = work / "project"
        project.mkdir()
        (project / "overlay.toml").write_text(
            OVERLAY_TOML.format(base=base.prefix, request=request, index=index_url)
        )
        print((project / "overlay.toml").read_text())

        step("3. overlock lock: resolve against the base's metadata and the index")
        overlock("lock", cwd=project, env=env)

        step("4. overlock sync: materialize the lock into the prefix")
        overlock("sync", cwd=project, env=env)

        step("5. overlock run: the base interpreter now imports the overlay's copies")
        names = sorted(expect)
        code = "; ".join(
            [f"import {n}" for n in names]
            + [f"print('{n}', {n}.__version__, {n}.__file__)" for n in names]
        )
        proc = overlock("run", "--", "python", "-c", code, cwd=project, env=env)
        for name, version in expect.items():
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(name + " ")), "")
            if not line.split()[1:2] or not line.split()[1].startswith(version):
                raise SystemExit(f"quickstart: expected {name} {version}..., got {line!r}")
            if str(project / "overlays") not in line:
                raise SystemExit(f"quickstart: {name} was not imported from the overlay: {line}")

        step("6. overlock why / check: why each package is there, and is it all still right?")
        for name in sorted(expect):
            overlock("why", name, cwd=project, env=env)
        overlock("check", cwd=project, env=env)  # exits 1 (and stops us) on any problem

        step("7. the base is untouched")
        after = base.checksum()
        if after != before:
            raise SystemExit("quickstart: the base tree changed!")
        print(f"base checksum unchanged: {after[:16]}...")
        kept = (
            f"work dir: {work}" if args.workdir else "work dir removed; keep it with --workdir DIR"
        )
        print(f"\nquickstart: all steps behaved as described ({kept})")
        return 0
    finally:
        if index is not None:
            index.stop()
        if base is not None:
            base.make_writable()  # so the work dir can be removed by a non-root user
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
