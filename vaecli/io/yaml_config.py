"""Config files as YAML: loading (floats without a dot, alias bombs refused), writing (strings quoted where they
would read back as numbers), and `--set a.b=v` overrides."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from vaecli.errors import ConfigError, shorten

MAX_YAML_NODES = 100_000  # values in a config once YAML aliases are expanded (a real one has ~60)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-3` as a float (YAML 1.1 insists on `1.0e-3`)."""


_FLOAT_WITHOUT_DOT = re.compile(
    r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$|^[-+]?(\d[\d_]*\.\d*|\.\d+)$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$"
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_WITHOUT_DOT, list("-+0123456789."))


class _Dumper(yaml.SafeDumper):
    """SafeDumper that quotes the strings _Loader would read as floats: a run named 1e3 stays the text '1e3'."""


_Dumper.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_WITHOUT_DOT, list("-+0123456789."))


def _expanded_size(value: Any) -> int:
    """Values in a loaded YAML document once aliases are expanded, counted without expanding them
    (each shared list or mapping once); ValueError beyond MAX_YAML_NODES or for a recursive alias."""
    sizes: dict[int, int | None] = {}

    def size(node: Any) -> int:
        if not isinstance(node, (list, dict)):
            return 1
        known = sizes.get(id(node), 0)
        if known is None:
            raise ValueError("a YAML alias refers to itself")
        if known:
            return known
        sizes[id(node)] = None
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1 + sum(size(child) for child in children)
        if total > MAX_YAML_NODES:
            raise ValueError(f"YAML aliases expand to more than {MAX_YAML_NODES:,} values (an alias bomb?)")
        sizes[id(node)] = total
        return total

    try:
        return size(value)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _load_yaml(text: str) -> Any:
    """yaml.load with the _Loader, refusing what would hang or blow up whatever reads the result."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    _expanded_size(data)
    return data


def parse_scalar(text: str) -> Any:
    """An override's value as YAML reads it: 1e-3 -> 0.001, true -> True, [1,2] -> list."""
    try:
        return _load_yaml(text)
    except yaml.YAMLError:
        return text
    except ValueError as error:
        raise ConfigError(f"overrides value {shorten(text)}: {error}", arguments=("overrides",)) from None


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = _load_yaml(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror or error})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b=value` strings (the CLI's --set) to a nested dict; returns a new dict."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"overrides {item}: expected KEY=VALUE, e.g. loss.kl_factor=1e-3", arguments=("overrides",)
            )
        parts = key.strip().split(".")
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(
                    f"overrides {item}: {'.'.join(parts[: depth + 1])} is a value, not a section",
                    arguments=("overrides",),
                )
            node = child
        node[parts[-1]] = parse_scalar(value)
    return data


def dump_yaml(data: dict[str, Any]) -> str:
    """YAML text that read_yaml reads back as the same data (a run named 1e3 stays the text '1e3')."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False)
