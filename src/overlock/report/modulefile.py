"""Modulefiles that activate an overlay: Lua for Lmod, Tcl for Environment Modules.

``module load`` then does what ``eval "$(overlock activate)"`` does — ``PREFIX/bin`` first on
``PATH``, the bootstrap directory first on ``PYTHONPATH``, ``OVERLOCK_ACTIVE`` set — and
``module unload`` undoes it exactly, which both module systems do for ``prepend_path`` and
``setenv`` by themselves. Paths name the stable prefix, so the module keeps working across
syncs and rollbacks. ``family("overlock")`` keeps two overlays from being loaded at once:
only one bootstrap can be the interpreter's ``sitecustomize``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from overlock.base.env import BaseEnv
from overlock.prefix.activate import ACTIVE_VAR, script_dirs
from overlock.prefix.bootstrap import boot_dir

FORMATS = ("lmod", "envmodules")


@dataclass(frozen=True)
class ModuleSpec:
    name: str  # the overlay's name, for whatis/help
    prefix: str  # the stable prefix, absolute
    bin_dirs: tuple[str, ...]  # first on PATH, in this order (activate.script_dirs)
    boot: str
    python: str  # the base interpreter the overlay is for
    manifest: str


def module_spec(base: BaseEnv, prefix: str, name: str, manifest: str) -> ModuleSpec:
    root = Path(prefix)
    return ModuleSpec(
        name=name,
        prefix=prefix,
        bin_dirs=tuple(script_dirs(base, root)),
        boot=str(boot_dir(root)),
        python=base.python,
        manifest=manifest,
    )


def _lua(text: str) -> str:
    """A Lua string literal; every byte that is not plain printable ASCII is escaped."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\' or not 0x20 <= byte < 0x7F:
            out.append(f"\\{byte:03d}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _tcl(text: str) -> str:
    """A Tcl word in double quotes: no substitution of ``$``, ``[...]`` or backslashes."""
    out = []
    for char in text:
        if char in '\\"$[]{};':
            out.append("\\" + char)
        elif not char.isprintable() or ord(char) > 0x7E:
            out.append("".join(f"\\x{b:02x}" for b in char.encode("utf-8")))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _comment(text: str) -> str:
    # Comments carry only printable text: a newline in a path must not end the comment.
    return "".join(c if c.isprintable() else "?" for c in text)


def lmod(spec: ModuleSpec) -> str:
    return "\n".join(
        [
            f"-- Written by overlock for the overlay {_comment(spec.name)} at"
            f" {_comment(spec.prefix)};",
            f"-- its overlay.toml is {_comment(spec.manifest)}."
            " Regenerate with `overlock export --format lmod`.",
            f"whatis({_lua('overlock overlay ' + spec.name + ' for ' + spec.python)})",
            "help("
            + _lua(f"Activates the overlock overlay at {spec.prefix} for {spec.python}")
            + ")",
            'family("overlock")',
            # prepend_path puts each in front: the last one given ends up first.
            *(f'prepend_path("PATH", {_lua(d)})' for d in reversed(spec.bin_dirs)),
            f'prepend_path("PYTHONPATH", {_lua(spec.boot)})',
            f'setenv("{ACTIVE_VAR}", {_lua(spec.prefix)})',
            "",
        ]
    )


def envmodules(spec: ModuleSpec) -> str:
    return "\n".join(
        [
            "#%Module1.0",
            f"## Written by overlock for the overlay {_comment(spec.name)} at"
            f" {_comment(spec.prefix)};",
            f"## its overlay.toml is {_comment(spec.manifest)}."
            " Regenerate with `overlock export --format envmodules`.",
            f"module-whatis {_tcl('overlock overlay ' + spec.name + ' for ' + spec.python)}",
            "family overlock",
            *(f"prepend-path PATH {_tcl(d)}" for d in reversed(spec.bin_dirs)),
            f"prepend-path PYTHONPATH {_tcl(spec.boot)}",
            f"setenv {ACTIVE_VAR} {_tcl(spec.prefix)}",
            "",
        ]
    )


def render(fmt: str, spec: ModuleSpec) -> str:
    if fmt == "lmod":
        return lmod(spec)
    if fmt == "envmodules":
        return envmodules(spec)
    raise ValueError(f"unknown modulefile format {fmt!r}")
