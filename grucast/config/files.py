"""Settings from files and --set: a YAML file (refusing duplicate keys, absurd sizes and
non-files) read into a Config; `section.key=value` overrides parsed with the same YAML rules,
except that a text setting keeps its text as written.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Optional

from grucast.config.machine import check_threads, format_bytes
from grucast.config.settings import SECTIONS, Config, train_loss
from grucast.config.validate import SetValue, check_keys, from_dict
from grucast.errors import ConfigError

MAX_CONFIG_BYTES = 1 << 20  # a config is a few lines; a larger file is the wrong file


class _DuplicateKey(Exception):
    def __init__(self, where: str, first: int, second: int):
        super().__init__(where)
        self.where, self.first, self.second = where, first, second


_LOADER: Any = None


def _yaml_loader() -> Any:
    """yaml.SafeLoader that refuses a key given twice in one mapping (SafeLoader keeps the last
    silently). Made on first use: yaml is imported only when a config is read."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_document(self, node):
            self._paths = {}
            self._name_mappings(node, "")
            return super().construct_document(node)

        def _name_mappings(self, node, path):
            """Remember the dotted path (model, model.x) of every mapping, for messages."""
            if isinstance(node, yaml.MappingNode):
                if id(node) in self._paths:
                    return  # an alias: already named
                self._paths[id(node)] = path
                for key, value in node.value:
                    name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                    self._name_mappings(value, f"{path}.{name}" if path else str(name))
            elif isinstance(node, yaml.SequenceNode):
                for item in node.value:
                    self._name_mappings(item, path)

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: dict[Any, int] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue  # '<<: *base' merges on purpose; its keys may be overridden
                    try:
                        key = self.construct_object(key_node, deep=True)
                        hash(key)
                    except (yaml.YAMLError, TypeError):
                        continue  # the constructor itself reports an unusable key
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        path = getattr(self, "_paths", {}).get(id(node), "")
                        raise _DuplicateKey(f"{path}.{key}" if path else str(key), seen[key], line)
                    seen[key] = line
            return super().construct_mapping(node, deep=deep)

    _LOADER = Loader
    return Loader


def _yaml(text: str) -> Any:
    """YAML text read safely (no Python objects), a key given twice raising _DuplicateKey."""
    import yaml

    return yaml.load(text, Loader=_yaml_loader())


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in a YAML config file; ConfigError (one line) when it is missing, a folder, not
    a regular file, unreadable, far too large, not valid YAML or gives a key twice."""
    import yaml

    from grucast.files import regular_file

    path = Path(path)
    st = regular_file(path, "--config", ConfigError, "config file", missing="config file")
    if st.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is {format_bytes(st.st_size)}, far larger than a grucast config can be "
                          f"(at most {format_bytes(MAX_CONFIG_BYTES)}): is it the right file?")
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        raise ConfigError(f"cannot read config file {path}: permission denied") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not valid YAML: it is not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    try:
        raw = _yaml(text)
    except _DuplicateKey as e:
        raise ConfigError(f"config file {path} gives {e.where} twice (lines {e.first} and {e.second}): keep one") from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{at}") from None
    return raw if raw is not None else {}


def _check_sets(overrides: dict[str, dict[str, Any]]) -> None:
    """ConfigError naming --set for a bad --set value, as a bad value in a config file is one
    even when a flag overrides it: each value on its own, then all of them together."""
    sets = {section: {key: v.given for key, v in values.items() if isinstance(v, SetValue)}
            for section, values in overrides.items() if isinstance(values, dict)}
    sets = {section: values for section, values in sets.items() if values}
    if not sets:
        return
    check_keys(sets, source="--set")  # unknown keys as everywhere else: 'unknown setting ...'
    items = [v.item for values in overrides.values() for v in values.values() if isinstance(v, SetValue)]
    for section, values in overrides.items():
        for key, v in values.items():
            if isinstance(v, SetValue):
                try:
                    from_dict({section: {key: v.given}}, source="--set")
                except ConfigError as e:
                    raise ConfigError(f"--set {v.item}: {e}") from None
    try:
        from_dict(sets, source="--set")
    except ConfigError as e:
        raise ConfigError(f"{' '.join('--set ' + i for i in items)}: {e}") from None


def load(path: Optional[Path] = None, overrides: Optional[dict[str, dict[str, Any]]] = None) -> Config:
    """The config from an optional YAML file, with flag overrides (None values ignored) on top;
    the SetValues of --set (parse_sets) among the overrides are checked on their own first."""
    raw = read_yaml(path) if path is not None else {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must be a mapping with sections {', '.join(SECTIONS)}")
    if path is not None:
        from_dict(raw, source=str(path))  # a bad value in the file is an error even when a flag overrides it
    _check_sets(overrides or {})  # and a bad --set value too
    merged: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for section, values in (overrides or {}).items():
        for key, value in values.items():
            if isinstance(value, SetValue):
                value = value.value
            if value is not None:
                merged.setdefault(section, {})
                if not isinstance(merged[section], dict):
                    merged[section] = {}
                merged[section][key] = value
    cfg = from_dict(merged, source=str(path) if path else "settings")
    check_threads("training.threads", cfg.training.threads)  # this machine's limit: not for stored configs
    train_loss(cfg.model, cfg.training)
    return cfg


def _is_text(section: str, name: str) -> bool:
    """Whether section.name is a text setting (str or Optional[str])."""
    cls = SECTIONS.get(section)
    if cls is None:
        return False
    annotation = typing.get_type_hints(cls).get(name)
    if typing.get_origin(annotation) in (typing.Union, getattr(types, "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else None
    return annotation is str


def parse_sets(items: typing.Iterable[str]) -> dict[str, dict[str, Any]]:
    """Overrides from 'section.key=value' texts, as SetValues for load: values read as YAML (3,
    0.1, true, [a, b]), except a text setting's, kept as written (data.id_col=007, data.target=yes)."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not eq or not dot:
            raise ConfigError(f"--set takes section.key=value (for example model.hidden_size=32), got '{item}'")
        if _is_text(section, name) and value.strip():
            parsed: Any = value.strip()
        else:
            try:
                parsed = _yaml(value)
            except _DuplicateKey as e:
                raise ConfigError(f"--set {item}: the value gives {e.where} twice") from None
            except yaml.YAMLError:
                parsed = value
        if parsed is None:
            raise ConfigError(f"--set {key.strip()}= gives no value; write section.key=value")
        out.setdefault(section, {})[name] = SetValue(parsed, f"{key.strip()}={value.strip()}", parsed)
    return out
