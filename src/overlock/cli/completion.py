"""`overlock completion bash|zsh|fish`: shell completion generated from the argparse parser.

Nothing here is written by hand per command: the parser is walked once into a table (for
each command path, its subcommands, its options, which options take a value, their
choices, which values are files) and each shell gets the same small walker over that
table. So a new command or option completes as soon as it is in the parser. An option's
value completes from its choices, else as a path; a command without subcommands takes paths.

A library would do part of this (shtab covers bash and zsh but not fish; argcomplete runs
Python on every TAB, where overlock's start-up is the cost to avoid), so it is not worth a
runtime dependency.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass, field

SHELLS = ("bash", "zsh", "fish")
ROOT = "overlock"  # the key of the top-level command path in every table


@dataclass
class _Node:
    commands: dict[str, str] = field(default_factory=dict)  # name -> one-line help
    options: dict[str, str] = field(default_factory=dict)  # flag -> one-line help
    valued: set[str] = field(default_factory=set)  # flags that take a value
    # flag -> choices; a value without choices completes as a path
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _one_line(text: str | None) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= 60 else line[:59] + "…"


def walk(parser: argparse.ArgumentParser) -> dict[str, _Node]:
    """Every command path ("overlock", "overlock base", "overlock base snapshot", ...)."""
    table: dict[str, _Node] = {}

    def visit(p: argparse.ArgumentParser, path: str) -> None:
        node = table.setdefault(path, _Node())
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for name, sub in action.choices.items():
                    node.commands[name] = _one_line(helps.get(name))
                    visit(sub, f"{path} {name}")
            elif action.option_strings:
                if action.help == argparse.SUPPRESS:
                    continue
                for flag in action.option_strings:
                    node.options[flag] = _one_line(action.help)
                    if action.nargs != 0:
                        node.valued.add(flag)
                        if action.choices:
                            node.choices[flag] = tuple(str(c) for c in action.choices)
            elif action.choices:
                # A positional of a fixed set (`completion SHELL`): offered like subcommands
                # (a path through one leads to no table, so nothing more is offered).
                for choice in action.choices:
                    node.commands.setdefault(str(choice), _one_line(action.help))

    visit(parser, ROOT)
    return table


# -- bash and zsh share the table functions (POSIX `case`), each has its own walker ------


def _sq(text: str) -> str:
    """Single-quoted for bash and zsh."""
    return "'" + text.replace("'", "'\\''") + "'"


def _case_function(name: str, rows: dict[str, str]) -> str:
    lines = [f"{name}() {{", '    case "$1" in']
    for key, value in rows.items():
        lines.append(f"        {_sq(key)}) printf '%s' {_sq(value)} ;;")
    lines += ["    esac", "}"]
    return "\n".join(lines)


def _tables(table: dict[str, _Node]) -> str:
    def words(xs: Iterable[str]) -> str:
        return " ".join(sorted(xs))

    choices = {
        f"{path} {flag}": " ".join(values)
        for path, node in table.items()
        for flag, values in node.choices.items()
    }
    return "\n\n".join(
        [
            _case_function("__overlock_commands", {p: words(n.commands) for p, n in table.items()}),
            _case_function("__overlock_options", {p: words(n.options) for p, n in table.items()}),
            _case_function("__overlock_valued", {p: words(n.valued) for p, n in table.items()}),
            _case_function("__overlock_choices", choices),
        ]
    )


# The walker: words before the cursor pick the command path (an option's value is
# skipped); then the word under the cursor gets the value of the option before it
# (its choices, or a path), an option, a subcommand, or a path.
_BASH = r"""
__overlock_path() {
    # $@: the words before the cursor, the command name excluded
    local cmdpath=overlock skip= w
    for w in "$@"; do
        if [ -n "$skip" ]; then skip=; continue; fi
        case "$w" in
            --*=*) ;;
            -*) case " $(__overlock_valued "$cmdpath") " in *" $w "*) skip=1 ;; esac ;;
            *) case " $(__overlock_commands "$cmdpath") " in
                   *" $w "*) cmdpath="$cmdpath $w" ;;
               esac ;;
        esac
    done
    printf '%s' "$cmdpath"
}

_overlock() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev= cmdpath
    [ "$COMP_CWORD" -gt 1 ] && prev="${COMP_WORDS[COMP_CWORD-1]}"
    cmdpath="$(__overlock_path "${COMP_WORDS[@]:1:COMP_CWORD-1}")"
    COMPREPLY=()
    case " $(__overlock_valued "$cmdpath") " in
        *" $prev "*)
            if [ -n "$prev" ]; then
                local choices="$(__overlock_choices "$cmdpath $prev")"
                if [ -n "$choices" ]; then
                    COMPREPLY=($(compgen -W "$choices" -- "$cur"))
                else
                    COMPREPLY=($(compgen -f -- "$cur"))
                fi
                return 0
            fi ;;
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(__overlock_options "$cmdpath")" -- "$cur"))
        return 0
    fi
    local commands="$(__overlock_commands "$cmdpath")"
    if [ -n "$commands" ]; then
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}

complete -o default -F _overlock overlock
"""

_ZSH = r"""
__overlock_path() {
    local cmdpath=overlock skip= w
    for w in "$@"; do
        if [[ -n $skip ]]; then skip=; continue; fi
        case "$w" in
            --*=*) ;;
            -*) case " $(__overlock_valued "$cmdpath") " in *" $w "*) skip=1 ;; esac ;;
            *) case " $(__overlock_commands "$cmdpath") " in
                   *" $w "*) cmdpath="$cmdpath $w" ;;
               esac ;;
        esac
    done
    printf '%s' "$cmdpath"
}

_overlock() {
    local cur="${words[CURRENT]}" prev="${words[CURRENT-1]}" cmdpath
    cmdpath="$(__overlock_path "${(@)words[2,CURRENT-1]}")"
    if (( CURRENT > 2 )) && [[ " $(__overlock_valued "$cmdpath") " == *" $prev "* ]]; then
        local choices="$(__overlock_choices "$cmdpath $prev")"
        if [[ -n $choices ]]; then
            compadd -- ${=choices}
        else
            _files
        fi
        return
    fi
    if [[ $cur == -* ]]; then
        compadd -- ${=$(__overlock_options "$cmdpath")}
        return
    fi
    local -a described
    described=("${(@f)$(__overlock_described "$cmdpath")}")
    if [[ -n ${described[1]} ]]; then
        _describe -t commands 'overlock command' described
    else
        _files
    fi
}

if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
    _overlock "$@"
else
    compdef _overlock overlock
fi
"""


def bash_script(parser: argparse.ArgumentParser) -> str:
    header = "# bash completion for overlock (generated: `overlock completion bash`)\n\n"
    return header + _tables(walk(parser)) + "\n" + _BASH


def zsh_script(parser: argparse.ArgumentParser) -> str:
    header = (
        "#compdef overlock\n"
        "# zsh completion for overlock (generated: `overlock completion zsh`)\n\n"
    )
    table = walk(parser)
    # "name:description" lines for _describe (a ":" in a name is escaped).
    described = _case_lines(
        "__overlock_described",
        {
            p: [f"{c.replace(':', chr(92) + ':')}:{h}" for c, h in sorted(n.commands.items())]
            for p, n in table.items()
        },
    )
    return header + _tables(table) + "\n\n" + described + "\n" + _ZSH


def _case_lines(name: str, rows: dict[str, list[str]]) -> str:
    """A function printing the lines of ``rows[$1]``, one per line."""
    lines = [f"{name}() {{", '    case "$1" in']
    for key, values in rows.items():
        if values:
            quoted = " ".join(_sq(v) for v in values)
            lines.append(f"        {_sq(key)}) printf '%s\\n' {quoted} ;;")
    lines += ["    esac", "}"]
    return "\n".join(lines)


# -- fish: its own syntax, the same table and walker ------------------------------------


def _fq(text: str) -> str:
    """Single-quoted for fish."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _switch_function(name: str, rows: dict[str, list[str]]) -> str:
    lines = [f"function {name}", "    switch $argv[1]"]
    for key, values in rows.items():
        if not values:
            continue
        lines.append(f"        case {_fq(key)}")
        lines.append("            printf '%s\\n' " + " ".join(_fq(v) for v in values))
    lines += ["    end", "end"]
    return "\n".join(lines)


_FISH = r"""
function __overlock_path
    set -l cmdpath overlock
    set -l skip
    for w in $argv
        if test -n "$skip"
            set skip
            continue
        end
        switch $w
            case '--*=*'
            case '-*'
                if contains -- $w (__overlock_valued "$cmdpath")
                    set skip 1
                end
            case '*'
                if contains -- $w (__overlock_commands "$cmdpath" | string replace -r '\t.*' '')
                    set cmdpath "$cmdpath $w"
                end
        end
    end
    echo $cmdpath
end

function __overlock_complete
    set -l before (commandline -opc)
    set -l cur (commandline -ct)
    set -l cmdpath (__overlock_path $before[2..-1])
    set -l prev
    if test (count $before) -gt 1
        set prev $before[-1]
    end
    if test -n "$prev"; and contains -- $prev (__overlock_valued "$cmdpath")
        set -l choices (__overlock_choices "$cmdpath $prev")
        if test (count $choices) -gt 0
            printf '%s\n' $choices
        else
            __fish_complete_path $cur
        end
        return
    end
    if string match -q -- '-*' $cur
        __overlock_options "$cmdpath"
        return
    end
    set -l commands (__overlock_commands "$cmdpath")
    if test (count $commands) -gt 0
        printf '%s\n' $commands
    else
        __fish_complete_path $cur
    end
end

complete -c overlock -f -a '(__overlock_complete)'
"""


def fish_script(parser: argparse.ArgumentParser) -> str:
    table = walk(parser)
    parts = [
        "# fish completion for overlock (generated: `overlock completion fish`)",
        _switch_function(
            "__overlock_commands",
            {p: [f"{c}\t{h}" for c, h in sorted(n.commands.items())] for p, n in table.items()},
        ),
        _switch_function(
            "__overlock_options",
            {p: [f"{o}\t{h}" for o, h in sorted(n.options.items())] for p, n in table.items()},
        ),
        _switch_function("__overlock_valued", {p: sorted(n.valued) for p, n in table.items()}),
        _switch_function(
            "__overlock_choices",
            {
                f"{p} {flag}": list(values)
                for p, n in table.items()
                for flag, values in n.choices.items()
            },
        ),
    ]
    return "\n\n".join(parts) + "\n" + _FISH


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    return {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}[shell](parser)
