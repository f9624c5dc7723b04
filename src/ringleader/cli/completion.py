"""`ringleader completion bash|zsh|fish`: shell completion scripts generated from the parser.

Commands and options are static (read from the argparse parser, so they never drift);
watcher names are asked of the running controller with `ringleader list` when a NAME is
being completed.
"""

from __future__ import annotations

import argparse
import sys

from ringleader.cli.common import EXIT_OK

FILE_OPTIONS = frozenset({"-c", "--config", "--cafile", "--certfile", "--keyfile",
                          "--log-output", "--pidfile"})
FILE_POSITIONALS = frozenset({"config"})


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's commands and their parsers, in the table's order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_help(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name:
                    return choice.help or ""
    return ""


def options(sub: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options of a parser, but -h/--help."""
    return [a for a in sub._actions
            if a.option_strings and not isinstance(a, argparse._HelpAction)]


def positionals(sub: argparse.ArgumentParser) -> list[argparse.Action]:
    """A command's positional arguments (its actions first, for `cluster ACTION`)."""
    return [a for a in sub._actions if not a.option_strings]


def _takes_name(sub: argparse.ArgumentParser) -> bool:
    pos = positionals(sub)
    return bool(pos) and pos[0].dest == "name"


def cmd_completion(args: argparse.Namespace) -> int:
    from ringleader.cli.commands import build_parser

    sys.stdout.write(script(args.shell, build_parser()))
    return EXIT_OK


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    return {"bash": bash, "zsh": zsh, "fish": fish}[shell](parser)


def bash(parser: argparse.ArgumentParser) -> str:
    commands = subcommands(parser)
    option_cases = "\n".join(
        f"            {name}) opts=\"{' '.join(s for a in options(sub) for s in a.option_strings)}"
        "\";;" for name, sub in commands.items())
    named = "|".join(n for n, sub in commands.items() if _takes_name(sub))
    files = "|".join(n for n, sub in commands.items()
                     if positionals(sub) and positionals(sub)[0].dest in FILE_POSITIONALS)
    choices = "\n".join(
        f"        {name}) COMPREPLY=($(compgen -W \"{' '.join(map(str, pos[0].choices))}\" "
        "-- \"$cur\"));;"
        for name, sub in commands.items()
        if (pos := positionals(sub)) and pos[0].choices)
    return f"""\
# bash completion for ringleader; load it with: eval "$(ringleader completion bash)"
_ringleader() {{
    local cur prev cmd="" npos=0 i opts
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            -*) ;;
            *) if [[ -z $cmd ]]; then cmd="${{COMP_WORDS[i]}}"; else npos=$((npos + 1)); fi;;
        esac
    done
    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "{' '.join(commands)} --version --help" -- "$cur"))
        return
    fi
    case "$prev" in
        {'|'.join(sorted(FILE_OPTIONS))})
            COMPREPLY=($(compgen -f -- "$cur")); return;;
    esac
    if [[ $cur == -* ]]; then
        case "$cmd" in
{option_cases}
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    [[ $npos -gt 0 ]] && return
    case "$cmd" in
        {named or "_none_"})
            COMPREPLY=($(compgen -W "$(ringleader list 2>/dev/null | tr , "\\n")" -- "$cur"));;
        {files or "_none_"})
            COMPREPLY=($(compgen -f -- "$cur"));;
{choices}
    esac
}}
complete -F _ringleader ringleader
"""


def _zq(text: str) -> str:
    """Escape for a single-quoted zsh _arguments spec."""
    for char in "[]:":
        text = text.replace(char, "\\" + char)
    return text.replace("'", "'\\''")


def _zsh_spec(action: argparse.Action) -> list[str]:
    help_text = _zq(action.help or "")
    takes_value = action.nargs != 0
    specs = []
    for opt in action.option_strings:
        spec = f"'{opt}[{help_text}]"
        if takes_value:
            what = _zq(str(action.metavar or action.dest))
            spec += f":{what}:_files" if opt in FILE_OPTIONS else f":{what}:"
            if action.choices:
                spec = spec.rstrip(":") + f":({' '.join(map(str, action.choices))})"
        specs.append(spec + "'")
    return specs


def _zsh_positional(index: int, action: argparse.Action) -> str:
    what = _zq(str(action.metavar or action.dest))
    if action.dest == "name":
        how = "_ringleader_watchers"
    elif action.dest in FILE_POSITIONALS:
        how = "_files"
    elif action.choices:
        how = f"({' '.join(map(str, action.choices))})"
    else:
        how = " "
    lead = "*" if action.nargs in ("+", "*") else str(index)
    return f"'{lead}:{what}:{how}'"


def zsh(parser: argparse.ArgumentParser) -> str:
    commands = subcommands(parser)
    described = "\n".join(f"        '{name}:{_zq(command_help(parser, name))}'"
                          for name in commands)
    cases = []
    for name, sub in commands.items():
        specs = [s for a in options(sub) for s in _zsh_spec(a)]
        specs += [_zsh_positional(i, a) for i, a in enumerate(positionals(sub), 1)]
        cases.append(f"        {name}) _arguments -s \\\n            "
                     + " \\\n            ".join(specs) + ";;")
    case_text = "\n".join(cases)
    return f"""\
#compdef ringleader
# zsh completion for ringleader; load it with: eval "$(ringleader completion zsh)"
# (after compinit), or save it as _ringleader in a directory of your $fpath.
_ringleader_watchers() {{
    local -a watchers
    watchers=(${{(f)"$(ringleader list 2>/dev/null | tr , "\\n")"}})
    _describe -t watchers 'watcher' watchers
}}
_ringleader() {{
    local -a commands
    commands=(
{described}
    )
    if (( CURRENT == 2 )); then
        _describe -t commands 'ringleader command' commands
        return
    fi
    local cmd=$words[2]
    shift words
    (( CURRENT-- ))
    case $cmd in
{case_text}
    esac
}}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _ringleader "$@"
else
    compdef _ringleader ringleader
fi
"""


def _fq(text: str) -> str:
    """A fish single-quoted string."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_option(condition: str, action: argparse.Action) -> str:
    parts = ["complete -c ringleader", f"-n {_fq(condition)}"]
    for opt in action.option_strings:
        parts.append(f"-l {opt[2:]}" if opt.startswith("--") else f"-s {opt[1:]}")
    if action.nargs != 0:  # takes a value
        if action.choices:
            parts.append(f"-x -a {_fq(' '.join(map(str, action.choices)))}")
        elif any(o in FILE_OPTIONS for o in action.option_strings):
            parts.append("-r -F")
        else:
            parts.append("-x")
    if action.help:
        parts.append(f"-d {_fq(action.help.split(';')[0].split(' (')[0])}")
    return " ".join(parts)


def fish(parser: argparse.ArgumentParser) -> str:
    commands = subcommands(parser)
    names = " ".join(commands)
    lines = [
        "# fish completion for ringleader; load it with: ringleader completion fish | source",
        "# (or save it as ~/.config/fish/completions/ringleader.fish)",
        "complete -c ringleader -f",
        "function __ringleader_watchers",
        "    command -q ringleader; and ringleader list 2>/dev/null | string split ,",
        "end",
    ]
    no_command = "__fish_use_subcommand"
    for name in commands:
        lines.append(f"complete -c ringleader -n {_fq(no_command)} -a {name} "
                     f"-d {_fq(command_help(parser, name))}")
    lines += [_fish_option(no_command, a) for a in options(parser)]
    for name, sub in commands.items():
        seen = f"__fish_seen_subcommand_from {name}"
        lines += [_fish_option(seen, a) for a in options(sub)]
        pos = positionals(sub)
        if not pos:
            continue
        first = pos[0]
        if first.dest == "name":
            lines.append(f"complete -c ringleader -n {_fq(seen)} -a '(__ringleader_watchers)'")
        elif first.dest in FILE_POSITIONALS:
            lines.append(f"complete -c ringleader -n {_fq(seen)} -F")
        elif first.choices:
            lines.append(f"complete -c ringleader -n {_fq(seen)} "
                         f"-a {_fq(' '.join(map(str, first.choices)))}")
        elif first.dest == "topic":  # help COMMAND
            lines.append(f"complete -c ringleader -n {_fq(seen)} -a {_fq(names)}")
    return "\n".join(lines) + "\n"
