"""The names of settings: the nearest valid spelling of a mistyped key, its alias (lr for
learning_rate), and the setting a key given in the wrong section means (training.hidden_size ->
model.hidden_size), for the "Did you mean" ending of every message about an unknown setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Optional

from grucast.config.flags import ALIASES
from grucast.config.settings import SECTIONS


def suggest(name: str, valid: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def closest(name: str, valid: typing.Iterable[str]) -> tuple[float, Optional[str]]:
    """The closest spelling of name among valid (as difflib.get_close_matches finds it) and its score."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return (difflib.SequenceMatcher(None, name, close[0]).ratio(), close[0]) if close else (0.0, None)


def did_you_mean(name: str, valid: typing.Iterable[str]) -> Optional[str]:
    """The valid name someone who wrote `name` most likely meant: the one an alias of
    grucast.config.flags.ALIASES stands for (lr: learning_rate), else the closest spelling; None
    when nothing is close."""
    valid = list(valid)
    if ALIASES.get(name) in valid:
        return ALIASES[name]
    return closest(name, valid)[1]


def _fields() -> dict[str, list[str]]:
    return {sec: [f.name for f in dataclasses.fields(cls)] for sec, cls in SECTIONS.items()}


def nearest_setting(section: Optional[str], key: str, close: bool = True) -> Optional[str]:
    """The setting someone who wrote `key` in `section` (None: at the top, as if a section) most
    likely meant: a key of that section as it is ('hidden_size'), one of another section as its
    full path ('model.hidden_size'), as --set and a YAML file need it. An alias of its own section
    first, then the key itself or its alias in another section, then (unless not close) the
    closest spelling in any section, its own winning a tie; None when nothing is close."""
    fields = _fields()
    own = fields.get(section, []) if section is not None else []
    if ALIASES.get(key) in own:
        return ALIASES[key]
    for sec, names in fields.items():
        if sec == section:
            continue
        for name in (key, ALIASES.get(key)):
            if name in names:
                return f"{sec}.{name}"
    if not close:
        return None
    best_score, best = closest(key, own)
    for sec, names in fields.items():
        if sec != section:
            score, name = closest(key, names)
            if name is not None and score > best_score:
                best_score, best = score, f"{sec}.{name}"
    return best


def hint(suggestion: Optional[str]) -> str:
    """' Did you mean 'x'?' for a suggestion, '' for none: the end of an unknown-name message."""
    return f" Did you mean '{suggestion}'?" if suggestion else ""
