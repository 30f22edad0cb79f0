"""Facility -> group -> user: overlays on overlays, and an audit of a new base, end to end.

What it does, printing each command and its output (no network: the test harness builds the
wheels, the bases and a package index on 127.0.0.1):

1. the facility's read-only base: ``scanlib 1.4.0`` (requires ``hdfio>=2,<3``), ``hdfio 2.1.0``;
2. the group overlay ``beamline-7`` on it: ``hdfio==2.2.0`` and ``netlib==1.0``; locked, synced;
3. a user overlay ``alice`` on the group's (``base = "../group/overlay.toml"``) asking for
   ``plotkit``, which needs ``netlib>=2``: the lock reuses the group's ``hdfio`` and shadows only
   the group's ``netlib``; ``run`` imports from all three layers; ``why``, ``show`` and
   ``check`` name the layer of each package;
4. the group re-syncs with one more package: ``alice``'s ``check`` names the group as drift;
5. the facility's next base (``hdfio 3.0.0``, ``scanlib 1.5.0``) is snapshotted and both overlays
   are audited against it before anyone deploys it: the group keeps the facility's scanlib
   (`[resolve] keep`), which the new base's scanlib no longer allows, so it breaks;
6. the base and the group's tree are byte-for-byte what they were before step 3.

Exit status is non-zero if any step does not behave as described. tests/test_examples.py runs
it (so CI does).
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

from harness.bases import Base, make_venv_base, tree_checksum  # noqa: E402
from harness.index import PackageIndex  # noqa: E402
from harness.wheels import WheelSpec, build_wheel  # noqa: E402

GROUP_TOML = """\
[overlay]
base = "{base}"                 # the facility's environment
prefix = "overlays/{{name}}"
name = "beamline-7"
requires = [{requires}]

[index]
urls = ["{index}"]

[resolve]
keep = ["scanlib"]              # never shadow the facility's scanlib: fail instead
"""

USER_TOML = """\
[overlay]
base = "../group/overlay.toml"  # this overlay sits on the group's, as it is synced
prefix = "overlays/{{name}}"
name = "alice"
requires = ["plotkit"]

[index]
urls = ["{index}"]
"""


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def overlock(*args: str, cwd: Path, env: dict[str, str], expect: int = 0) -> str:
    print("$ overlock " + " ".join(args), flush=True)
    proc = subprocess.run(
        [sys.executable, "-m", "overlock", *args], cwd=cwd, env=env, text=True, capture_output=True
    )
    sys.stdout.write(proc.stdout + proc.stderr)
    if proc.returncode != expect:
        raise SystemExit(
            f"stack: `overlock {' '.join(args)}` exited {proc.returncode}, not {expect}"
        )
    return proc.stdout + proc.stderr


def need(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"stack: {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, help="keep the demo here (default: a temp dir)")
    args = parser.parse_args()
    work = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="overlock-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHONPATH"))}
    env["OVERLOCK_CACHE_DIR"] = str(work / "cache")

    specs = [
        WheelSpec("hdfio", "2.1.0"),
        WheelSpec("hdfio", "2.2.0"),
        WheelSpec("hdfio", "3.0.0"),
        WheelSpec("scanlib", "1.4.0", requires=("hdfio>=2,<3",)),
        WheelSpec("scanlib", "1.5.0", requires=("hdfio>=3",)),
        WheelSpec("netlib", "1.0", requires=("hdfio>=2,<3",)),
        WheelSpec("netlib", "2.0", requires=("hdfio>=2",)),
        WheelSpec("plotkit", "1.0", requires=("netlib>=2", "hdfio>=2")),
        WheelSpec("calib", "1.0"),
    ]
    index = PackageIndex(work / "index").start()
    bases: list[Base] = []
    try:
        built = {(s.name, s.version): build_wheel(s, work / "wheels") for s in specs}
        for path in built.values():
            index.add(path)

        step("1. the facility's read-only base")
        base = make_venv_base(
            work / "base", [built[("scanlib", "1.4.0")], built[("hdfio", "2.1.0")]]
        )
        bases.append(base)
        base.make_readonly()

        step("2. the group overlay beamline-7, on the base")
        group = work / "group"
        group.mkdir()
        group_toml = GROUP_TOML.format(
            base=base.prefix, requires='"hdfio==2.2.0", "netlib==1.0"', index=index.url
        )
        (group / "overlay.toml").write_text(group_toml)
        overlock("lock", cwd=group, env=env)
        overlock("sync", cwd=group, env=env)
        before = (base.checksum(), tree_checksum(group), tree_checksum(group / "overlays"))

        step("3. alice's overlay, on the group's")
        user = work / "alice"
        user.mkdir()
        (user / "overlay.toml").write_text(USER_TOML.format(index=index.url))
        print((user / "overlay.toml").read_text())
        out = overlock("lock", cwd=user, env=env)
        need(
            "netlib 2.0 (shadows group overlay 'beamline-7' 1.0)" in out,
            "netlib's layer is not named",
        )
        overlock("sync", cwd=user, env=env)
        code = (
            "import hdfio, netlib, plotkit, scanlib\n"
            "for m in (plotkit, netlib, hdfio, scanlib):\n"
            "    print(m.__name__, m.__version__, m.__file__)"
        )
        out = overlock("run", "--", "python", "-c", code, cwd=user, env=env)
        where = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines() if ln[:1].isalpha()}
        need(where["plotkit"][1].startswith(str(user / "overlays")), "plotkit not from alice")
        need(where["netlib"][0] == "2.0", "netlib is not alice's 2.0")
        need(where["hdfio"][1].startswith(str(group / "overlays")), "hdfio not from the group")
        need(where["scanlib"][1].startswith(str(base.prefix)), "scanlib not from the base")
        out = overlock("why", "hdfio", cwd=user, env=env)
        need("group overlay 'beamline-7'" in out, "why does not name the group")
        overlock("show", cwd=user, env=env)
        overlock("check", cwd=user, env=env)

        step("4. the group adds calib and syncs: drift upstairs, named")
        (group / "overlay.toml").write_text(
            GROUP_TOML.format(
                base=base.prefix, requires='"hdfio==2.2.0", "netlib==1.0", "calib"', index=index.url
            )
        )
        overlock("lock", cwd=group, env=env)
        overlock("sync", cwd=group, env=env)
        before = (base.checksum(), tree_checksum(group), tree_checksum(group / "overlays"))
        out = overlock("check", cwd=user, env=env, expect=1)
        need(
            "group overlay 'beamline-7' changed since the lock: calib 1.0 appeared" in out, "drift"
        )
        out = overlock(
            "run", "--", "python", "-c", "import calib; print(calib.__file__)", cwd=user, env=env
        )
        need(out.startswith(str(group / "overlays")), "the group's new package is not active")
        overlock("lock", cwd=user, env=env)
        overlock("sync", cwd=user, env=env)

        step("5. the facility's next base: audit both overlays before deploying it")
        nxt = make_venv_base(
            work / "next", [built[("scanlib", "1.5.0")], built[("hdfio", "3.0.0")]]
        )
        bases.append(nxt)
        overlock(
            "base",
            "snapshot",
            "--base",
            str(nxt.prefix),
            "-o",
            str(work / "next.json"),
            cwd=work,
            env=env,
        )
        out = overlock(
            "audit", "--base", "next.json", "group/overlay.toml", "alice/overlay.toml",
            cwd=work, env=env, expect=1,
        )  # fmt: skip
        need("✗ beamline-7" in out and "scanlib is in [resolve] keep" in out, "the group breaks")
        need("✓ alice" in out, "alice's overlay, on the group as synced, still locks")

        step("6. the base and the group's tree are untouched by everything alice did")
        after = (base.checksum(), tree_checksum(group), tree_checksum(group / "overlays"))
        need(after == before, "a lower layer changed")
        print(f"unchanged: base {after[0][:12]}..., group {after[1][:12]}...")
        kept = (
            f"work dir: {work}" if args.workdir else "work dir removed; keep it with --workdir DIR"
        )
        print(f"\nstack: all steps behaved as described ({kept})")
        return 0
    finally:
        index.stop()
        for b in bases:
            b.make_writable()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
