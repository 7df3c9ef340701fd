"""The documentation: the MkDocs site builds with --strict, and every `vae ...` example parses against the real CLI.

The command lines are taken from the README (its code blocks and the inline commands of its tables) and from
the code blocks of every page under docs/, then resolved and parsed by the Typer app's own click command
(`make_context` with resilient_parsing=False), so a renamed command or flag, a missing argument or a value of
the wrong type in an example fails here. Placeholders (RUN, CONFIG, $SLURM_ARRAY_TASK_ID, {}) stand for values.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from tests.helpers import ROOT
from vaecli.cli import app

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console", "text"}
# A token standing for a value the reader fills in: an environment variable, GNU parallel's {}, or a NAME.
PLACEHOLDER = re.compile(r"^(\$\S+|\{\S*\}|[A-Z][A-Z0-9_]*)$")
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", "do", "then", "else"}
PREFIXES = {"time", "nohup", "env", "sudo", "exec"}


def code_blocks(text: str) -> list[str]:
    """Fenced blocks in a shell-like language (or none) and indented blocks, each as its text."""
    blocks, lines, index = [], text.split("\n"), 0
    while index < len(lines):
        fence = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)", lines[index])
        if fence:
            end = index + 1
            while end < len(lines) and not lines[end].strip().startswith(fence.group(2)):
                end += 1
            if fence.group(3).lower() in SHELL_LANGUAGES:
                blocks.append("\n".join(line[len(fence.group(1)) :] for line in lines[index + 1 : end]))
            index = end + 1
            continue
        if lines[index].startswith("    ") and (index == 0 or not lines[index - 1].strip()):
            end = index
            while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
                end += 1
            blocks.append("\n".join(line[4:] for line in lines[index:end]))
            index = end
            continue
        index += 1
    return blocks


def readme_table_commands(text: str) -> list[str]:
    """The inline `vae ...` commands of the README's tables, optional parts [..] taken as written."""
    spans = re.findall(r"^\|\s*`(vae [^`]+)`", text, re.M)
    return [span.replace("\\|", "|").replace("[", "").replace("]", "") for span in spans]


def vae_commands(line: str) -> list[list[str]]:
    """Each `vae ...` invocation in one shell line, as its arguments (after `vae`); quoted scripts searched too."""
    lexer = shlex.shlex(line.removeprefix("$ "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: prose or YAML, not a command line
        return []
    found, segment = [], []
    for token in [*tokens, ";"]:
        if token not in SEPARATORS and not re.fullmatch(r"[();<>|&]+", token):  # ;, &&, |, $(( ... ))
            segment.append(token)
            continue
        words = segment  # leading VAR=value assignments and prefixes such as `time` come before the command
        while words and (words[0] in PREFIXES or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0])):
            words = words[1:]
        if words and words[0] == "vae":
            found.append(words[1:])
        else:  # a script in quotes: sh -c "vae ...", parallel '... vae ...'
            for word in segment:
                if re.search(r"(^|\s)vae\s", word):
                    found.extend(vae_commands(word))
        segment = []
    return found


def shell_lines(block: str) -> list[str]:
    """The block's lines with backslash continuations joined."""
    return block.replace("\\\n", " ").split("\n")


def examples() -> list[tuple[str, list[str]]]:
    """(where, arguments) of every vae command line in the README and the docs."""
    found = []
    for page in PAGES:
        text = page.read_text()
        name = page.relative_to(ROOT).as_posix()
        lines = [line for block in code_blocks(text) for line in shell_lines(block)]
        if page.name == "README.md":
            lines += readme_table_commands(text)
        for line in lines:
            found += [(f"{name}: {line.strip()}", arguments) for arguments in vae_commands(line)]
    return found


def _error_name(error: BaseException) -> str:
    return type(error).__name__


def parse(arguments: list[str]) -> None:
    """Resolve the subcommand and parse its arguments as `vae` would; raises on an unknown command or flag."""
    command = typer.main.get_command(app)
    words, path = list(arguments), ["vae"]
    while hasattr(command, "commands"):  # a group: the next word names a subcommand (or a root option)
        if not words:
            raise AssertionError(f"'{' '.join(path)}' needs a subcommand")
        if words[0].startswith("-"):
            known = {option for parameter in command.params for option in parameter.opts}
            assert words[0] in known, f"unknown option {words[0]} of '{' '.join(path)}'"
            return
        name = words.pop(0)
        assert name in command.commands, f"unknown command '{' '.join([*path, name])}'"
        command, path = command.commands[name], [*path, name]
    try:
        command.make_context(" ".join(path), list(words), resilient_parsing=False)
    except Exception as error:  # BadParameter: a placeholder where a number goes ("--index $SLURM_ARRAY_TASK_ID")
        if _error_name(error) != "BadParameter" or not any(PLACEHOLDER.match(word) for word in words):
            raise
        filled = ["0" if PLACEHOLDER.match(word) else word for word in words]
        command.make_context(" ".join(path), filled, resilient_parsing=False)


def test_the_examples_are_found_in_every_kind_of_block():
    page = (
        "text\n\n    vae encode quickstart --split test\n    # Encoded 2,000 images\n\n"
        "```bash\nvae train configs/q.yaml \\\n    --name x   # a comment\nmake test\n```\n\n"
        "```python\nvae = 1  # vae train never\n```\n\n"
        "```\n$ vae sweep c.yaml --set a=1,2 --plan | cut -f1 | parallel 'X=1 vae sweep c.yaml --index {}'\n```\n"
    )
    lines = [line for block in code_blocks(page) for line in shell_lines(block)]
    found = [arguments for line in lines for arguments in vae_commands(line)]
    assert found == [
        ["encode", "quickstart", "--split", "test"],
        ["train", "configs/q.yaml", "--name", "x"],
        ["sweep", "c.yaml", "--set", "a=1,2", "--plan"],
        ["sweep", "c.yaml", "--index", "{}"],
    ]
    assert readme_table_commands("| `vae clean [RUNS_DIR\\|RUN] [--dry-run]` | x |") == [
        "vae clean RUNS_DIR|RUN --dry-run"
    ]


def test_a_wrong_example_fails_to_parse():
    parse(["sample", "--run", "quickstart", "--boundary", "0.5,2.5"])
    parse(["sweep", "c.yaml", "--set", "a=1,2", "--index", "$SLURM_ARRAY_TASK_ID"])
    parse(["config", "show", "c.yaml", "--set", "model.z_dim=64"])
    for wrong in (
        ["sample", "--bondary", "5"],  # a misspelt flag
        ["encodes", "quickstart"],  # an unknown command
        ["config", "shows", "c.yaml"],  # an unknown subcommand of a group
        ["traverse", "quickstart", "--steps", "many"],  # a word where a number goes
        ["evaluate", "quickstart", "--iw-samples"],  # a flag without its value
    ):
        with pytest.raises(Exception) as caught:
            parse(wrong)
        assert _error_name(caught.value) in {"NoSuchOption", "BadParameter", "BadOptionUsage", "AssertionError"}, wrong


def test_every_vae_example_in_the_readme_and_the_docs_parses_against_the_cli():
    found = examples()
    commands = {arguments[0] for _, arguments in found if arguments}
    # The docs show every command of the CLI at least once.
    assert commands >= {"train", "encode", "decode", "sample", "interpolate", "traverse", "latent-stats"}
    assert commands >= {"evaluate", "compare", "report", "sweep", "sweep-status", "doctor", "clean", "config", "data"}
    assert len(found) > 80, len(found)
    failures = []
    for where, arguments in found:
        try:
            parse(arguments)
        except BaseException as error:  # noqa: BLE001 - every failure is reported with its example
            failures.append(f"{where}\n    {_error_name(error)}: {error}")
    assert not failures, "examples that the CLI refuses:\n" + "\n".join(failures)


def test_the_readme_links_only_to_pages_of_the_site():
    readme = (ROOT / "README.md").read_text()
    nav = (ROOT / "mkdocs.yml").read_text()
    targets = re.findall(r"\]\((docs/[^)#\s]+)(?:#[^)]*)?\)", readme)
    assert len(targets) > 20
    for target in targets:
        page = target.removeprefix("docs/")
        if page.startswith("images/"):
            assert (ROOT / target).is_file(), target
        else:  # a page of the nav: the strict build checks that it exists and that its anchors do
            assert re.search(rf":\s*{re.escape(page)}\s*$", nav, re.M), target
    assert len(readme.splitlines()) <= 250


def test_the_site_builds_with_strict_links_and_api_references(tmp_path):
    mkdocs = shutil.which("mkdocs") or shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        if os.environ.get("CI"):
            pytest.fail("mkdocs is not installed (pip install -e '.[docs]'); under CI the docs must build")
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    site = tmp_path / "site"
    api = (site / "python-api" / "index.html").read_text()
    # mkdocstrings rendered the docstrings: the signatures and their examples are on the page.
    for anchor in ("vaecli.api.train", "vaecli.latent.stats.latent_stats", "vaecli.sweeps.sweep_status"):
        assert f'id="{anchor}"' in api, anchor
    assert 'id="vaecli.runs.doctor.diagnose"' in api and 'id="vaecli.runs.clean.clean"' in api
    assert api.count("&gt;&gt;&gt;") >= 10  # the docstrings' examples, rendered as code
    assert (site / "architecture" / "index.html").is_file() and (site / "images" / "quickstart_samples.png").is_file()


def test_the_readme_python_example_names_only_what_the_api_has():
    """The README's five lines are not run (they train); every vaecli.NAME and run.NAME in them must exist."""
    import vaecli
    from vaecli.api import Run

    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    compile(code, "README.md", "exec")
    public, methods = set(re.findall(r"\bvaecli\.(\w+)", code)), set(re.findall(r"\brun\.(\w+)", code))
    assert {"train", "compare"} <= public and {"encode", "sample", "split"} <= methods
    assert [name for name in sorted(public) if not hasattr(vaecli, name)] == []
    assert [name for name in sorted(methods) if not hasattr(Run, name)] == []
