"""Environment that makes an overlay active: for ``overlock run`` and ``overlock activate``.

Decision: a ``sitecustomize`` bootstrap at ``PREFIX/.overlock/boot/sitecustomize.py``, put
first on ``PYTHONPATH``. Each candidate was tried against a venv base and a plain (pyenv)
base, with a 3.12 interpreter started from the same environment (tests/test_activate.py
keeps the evidence executable):

``PYTHONPATH=PREFIX/lib/pythonX.Y/site-packages`` (what users did before)
    Imports work, but ``.pth`` files in the overlay are not processed (editable installs,
    namespace shims, ``distutils-precedence.pth`` break), and a 3.12 started from the same
    shell imports the 3.11 overlay's packages (compiled ones then crash or misbehave).

``PYTHONUSERBASE=PREFIX``
    The user site is a real site directory placed before site-packages and its ``.pth``
    files run, and other versions look in ``lib/python3.12/...`` so they are untouched.
    But it does nothing in a venv base (``site.ENABLE_USER_SITE`` is False there), nothing
    with ``python -s`` or ``PYTHONNOUSERSITE`` (common in batch systems and Jupyter kernel
    specs), it hides the user's own ``~/.local`` packages while active, and Debian's
    ``posix_local`` scheme differs from the user scheme. It fails the requirement for the
    most common base (a venv), so it is rejected.

``sitecustomize`` bootstrap (chosen)
    Python imports ``sitecustomize`` after all site directories are set up, from
    ``sys.path``, so a directory first on ``PYTHONPATH`` holding only that file gets control
    in every interpreter. The bootstrap removes its directory from ``sys.path`` at once, acts
    only when ``sys.version_info[:2]`` and ``sys.prefix`` match the overlay's base (another
    interpreter from the same shell is untouched), calls ``site.addsitedir`` on the overlay
    (``.pth`` files run), moves the overlay's entries in front of the base's site-packages
    (and the user site) so overlay copies win for both imports and ``importlib.metadata``,
    and then loads the sitecustomize it hid (Debian, conda and Spack ship one). It works in
    venv and non-venv bases alike and with ``-s``.

Limits of the choice: ``python -I`` and ``-E`` ignore ``PYTHONPATH``, and ``-S`` skips
``site`` entirely, so those see the base alone (console scripts in ``PREFIX/bin`` set the
overlay up themselves and do not depend on activation). A venv created *from* the base has
another ``sys.prefix`` and is deliberately left alone. The overlay's site directories sit
after the stdlib, like any site-packages, so an overlay cannot shadow a stdlib module. A
``sitecustomize`` shipped by a package inside the overlay wins over the base's, as it would
if the overlay were the environment's own site-packages.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path

from overlock import untrusted
from overlock.base.env import BaseEnv
from overlock.errors import BadInputError
from overlock.prefix.bootstrap import boot_dir
from overlock.prefix.layers import lower_script_dirs
from overlock.prefix.state import abs_prefix

ACTIVE_VAR = "OVERLOCK_ACTIVE"
SHELLS = ("bash", "zsh", "sh", "fish", "tcsh", "csh")
# Login shells as $SHELL names them, for shells whose code is the same as a known one's.
_SHELL_ALIASES = {"dash": "sh"}


def _without(value: str, drop: set[str]) -> list[str]:
    return [p for p in value.split(os.pathsep) if p and p not in drop]


def script_dirs(base: BaseEnv, prefix: Path) -> list[str]:
    """What goes first on ``PATH``: ``PREFIX/bin``, then each lower overlay's (prefix/layers.py),
    nearest first; python imports find the lower overlays' packages through the bootstrap."""
    return [str(prefix / base.scheme["scripts"]), *lower_script_dirs(base)]


def python_on_path_note(base: BaseEnv, prefix: Path, environ: Mapping[str, str]) -> str | None:
    """A note when ``python3`` in the activated shell will not be the base's interpreter.

    Activation puts only the overlays' ``bin`` directories on ``PATH``, not the base's (for a
    system base that would move ``/usr/bin`` ahead of everything), and the overlay is active
    only in the base's interpreter. ``overlock run`` maps ``python`` to it; a shell cannot.
    """
    path = os.pathsep.join(
        [*script_dirs(base, abs_prefix(prefix)), environ.get("PATH", os.defpath)]
    )
    found = shutil.which("python3", path=path)
    base_dir = str(Path(base.python).parent)
    # The same directory (a venv's python3 resolves to the system's file) and the same file
    # (/usr/bin/python3 may be another version than the base's /usr/bin/python3.11).
    if found is not None and (Path(found).parent.resolve(), Path(found).resolve()) == (
        Path(base_dir).resolve(),
        Path(base.python).resolve(),
    ):
        return None
    return (
        f"note: `python3` in this shell is {found or 'not on PATH'}, not the base's interpreter"
        f" {base.python}, the only one that sees the overlay: run that, or put {base_dir} on PATH"
    )


def overlay_environ(base: BaseEnv, prefix: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with the overlay at ``prefix`` active (for ``overlock run``).

    ``PREFIX/bin`` first on ``PATH``, the bootstrap directory first on ``PYTHONPATH``,
    ``OVERLOCK_ACTIVE=PREFIX``. Entries an already active overlay added are taken out
    first, so running inside an activated shell does not stack two overlays.
    """
    prefix = abs_prefix(prefix)
    env = dict(environ)
    drop: set[str] = set()
    previous = env.get(ACTIVE_VAR)
    if previous:
        old = Path(previous)
        drop |= {str(old / base.scheme["scripts"]), str(boot_dir(old))}
    bins = script_dirs(base, prefix)
    boot = str(boot_dir(prefix))
    path = _without(env.get("PATH", os.defpath), drop | set(bins))
    env["PATH"] = os.pathsep.join([*bins, *path])
    # No empty entries: an empty PYTHONPATH component means the current directory.
    pythonpath = _without(env.get("PYTHONPATH", ""), drop | {boot})
    env["PYTHONPATH"] = os.pathsep.join([boot, *pythonpath])
    env[ACTIVE_VAR] = str(prefix)
    return env


def default_shell(environ: Mapping[str, str]) -> str:
    """The shell ``overlock activate`` writes for when ``--shell`` is not given.

    The basename of ``$SHELL`` when it is a shell we know (a login shell's leading ``-``
    dropped), else ``bash``: POSIX code is the most likely to work in an unknown shell.
    """
    name = Path(environ.get("SHELL", "")).name.lstrip("-")
    name = _SHELL_ALIASES.get(name, name)
    return name if name in SHELLS else "bash"


def activate_script(shell: str, base: BaseEnv, prefix: Path) -> str:
    """Shell code that activates the overlay and defines ``deactivate_overlay``.

    Meant for ``eval "$(overlock activate)"`` (bash, zsh, sh), ``overlock activate --shell
    fish | source``, and ``eval "`overlock activate --shell tcsh`"`` or ``source`` of a saved
    file (tcsh, csh). ``deactivate_overlay`` restores ``PATH``, ``PYTHONPATH`` and
    ``OVERLOCK_ACTIVE`` exactly, including "was unset". Activating again in the same shell
    first deactivates what that shell activated, so nothing stacks.
    """
    prefix = abs_prefix(prefix)
    bin_dir = os.pathsep.join(script_dirs(base, prefix))  # joined as PATH is
    boot = str(boot_dir(prefix))
    for value in (bin_dir, boot):
        # Quoting cannot make a newline safe everywhere: it ends the comment line below,
        # and csh has no way to quote one. overlay.toml refuses such a prefix already;
        # this holds for any other way a path could get here (the base's scheme, a name).
        try:
            untrusted.text(value, "the overlay path")
        except untrusted.UntrustedValue as exc:
            raise BadInputError(
                f"cannot write activation code: {exc} ({value!r})",
                hint="choose a prefix without control characters in overlay.toml",
            ) from None
    if shell in ("bash", "zsh", "sh"):
        return _posix(bin_dir, boot, str(prefix))
    if shell == "fish":
        return _fish(bin_dir, boot, str(prefix))
    if shell in ("tcsh", "csh"):
        return _tcsh(bin_dir, boot, str(prefix))
    raise BadInputError(f"unknown shell {shell!r}", hint="use one of: " + ", ".join(SHELLS))


def _posix(bin_dir: str, boot: str, prefix: str) -> str:
    q = shlex.quote
    return f"""\
# overlock: activate the overlay at {prefix}
if [ -n "${{OVERLOCK_ACTIVE-}}" ] && command -v deactivate_overlay >/dev/null 2>&1; then
    deactivate_overlay
fi
_overlock_save() {{
    # Remember the value *and* whether it was set, so deactivation is exact.
    if eval "[ -n \\"\\${{$1+x}}\\" ]"; then
        eval "_OVERLOCK_SET_$1=1; _OVERLOCK_OLD_$1=\\"\\${{$1}}\\""
    else
        eval "_OVERLOCK_SET_$1=0; unset _OVERLOCK_OLD_$1"
    fi
}}
_overlock_save PATH
_overlock_save PYTHONPATH
_overlock_save OVERLOCK_ACTIVE
unset -f _overlock_save
PATH={q(bin_dir)}"${{PATH:+:$PATH}}"
export PATH
PYTHONPATH={q(boot)}"${{PYTHONPATH:+:$PYTHONPATH}}"
export PYTHONPATH
OVERLOCK_ACTIVE={q(prefix)}
export OVERLOCK_ACTIVE
deactivate_overlay() {{
    for _overlock_var in PATH PYTHONPATH OVERLOCK_ACTIVE; do
        if eval "[ \\"\\${{_OVERLOCK_SET_$_overlock_var}}\\" = 1 ]"; then
            eval "$_overlock_var=\\"\\${{_OVERLOCK_OLD_$_overlock_var}}\\"; export $_overlock_var"
        else
            unset "$_overlock_var"
        fi
        unset "_OVERLOCK_SET_$_overlock_var" "_OVERLOCK_OLD_$_overlock_var"
    done
    unset _overlock_var
    unset -f deactivate_overlay
    hash -r 2>/dev/null
    return 0
}}
hash -r 2>/dev/null
"""


def _fish(bin_dir: str, boot: str, prefix: str) -> str:
    q = _fish_quote
    return f"""\
# overlock: activate the overlay at {prefix}
if set -q OVERLOCK_ACTIVE; and functions -q deactivate_overlay
    deactivate_overlay
end
for _overlock_var in PATH PYTHONPATH OVERLOCK_ACTIVE
    if set -q $_overlock_var
        set -g _OVERLOCK_SET_$_overlock_var 1
        set -g _OVERLOCK_OLD_$_overlock_var $$_overlock_var
    else
        set -g _OVERLOCK_SET_$_overlock_var 0
    end
end
set -e _overlock_var
set -gx PATH {" ".join(q(d) for d in bin_dir.split(os.pathsep))} $PATH
if set -q PYTHONPATH; and test -n "$PYTHONPATH"
    set -gx PYTHONPATH {q(boot)} $PYTHONPATH
else
    set -gx PYTHONPATH {q(boot)}
end
set -gx OVERLOCK_ACTIVE {q(prefix)}
function deactivate_overlay
    for _overlock_var in PATH PYTHONPATH OVERLOCK_ACTIVE
        set -l was _OVERLOCK_SET_$_overlock_var
        set -l old _OVERLOCK_OLD_$_overlock_var
        if test "$$was" = 1
            set -gx $_overlock_var $$old
        else
            set -e $_overlock_var
        end
        set -e $was
        set -e $old
    end
    functions -e deactivate_overlay
end
"""


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _tcsh(bin_dir: str, boot: str, prefix: str) -> str:
    # Rules csh imposes, each found by running tcsh (tests/test_activate.py):
    # - `eval "`overlock activate --shell tcsh`"` joins all lines into one, so every line
    #   ends in `;`, there are no comments and no multi-line `if`.
    # - `if ( $?X ) cmd $X` expands `$X` even when the test is false, and an unset `X`
    #   aborts the whole script; so a value is read with the `printenv` builtin, and the
    #   saved state lives in variables that are always set.
    # - A one-line `if` cannot run an alias: `eval deactivate_overlay` can.
    # - The state is kept in shell variables (`set`), not the environment, so a child
    #   shell inherits no state it has no `deactivate_overlay` alias for.
    q = _csh_quote
    new = {"PATH": bin_dir, "PYTHONPATH": boot, ACTIVE_VAR: prefix}
    lines = ["if ( $?_overlock_set_PATH ) eval deactivate_overlay"]
    for var in new:
        lines += [
            f'set _overlock_set_{var}=0 _overlock_old_{var}=""',
            f"if ( $?{var} ) set _overlock_set_{var}=1",
            f'if ( $?{var} ) set _overlock_old_{var}="`printenv {var}`"',
        ]
    for var in ("PATH", "PYTHONPATH"):
        old = f"$_overlock_old_{var}"
        lines += [
            f"setenv {var} {q(new[var])}",
            f'if ( "{old}" != "" ) setenv {var} {q(new[var])}":{old}"',
        ]
    lines.append(f"setenv {ACTIVE_VAR} {q(prefix)}")
    restore = []
    for var in new:
        restore += [
            f'if ( $_overlock_set_{var} == 1 ) setenv {var} "$_overlock_old_{var}"',
            f"if ( $_overlock_set_{var} == 0 ) unsetenv {var}",
        ]
    restore += [
        "unset " + " ".join(f"_overlock_set_{v} _overlock_old_{v}" for v in new),
        "rehash",
        "unalias deactivate_overlay",
    ]
    lines += ["alias deactivate_overlay '" + "; ".join(restore) + "'", "rehash"]
    return "".join(line + " ;\n" for line in lines)


def _csh_quote(value: str) -> str:
    if value and all(c.isalnum() or c in "/._-+,@%=" for c in value):
        return value
    # `!` is history substitution even inside single quotes in an interactive tcsh.
    return "'" + value.replace("'", "'\\''").replace("!", "'\\!'") + "'"
