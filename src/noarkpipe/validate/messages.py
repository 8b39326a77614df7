"""The findings' messages as templates with parameters, rendered in the report's language at the end.

A check says what it found the gettext way: `msg("differs from {original}",
original=path)`, an English template (the msgid) and its values. The
finding keeps both, not a sentence, so one run can be reported in
Norwegian or English: the report is rendered once the run is done
(`texts.localize`, and the CSV as it is written), by looking the template
up in `texts/nb.toml` under `[messages]` (the English template as the key,
the bokmål one with the same `{placeholders}` as the value) and filling in
the values. A template without a translation is shown in English, so a
new message still reports; a test keeps every template of the check
modules translated.

A value may itself be a message (a member's problem inside "present but
unusable: {problem}"), rendered in the same language, or a list of them
(`joined("; ", parts)`). What is not ours
stays as it was written: libxml2's schema errors, file names, values from
the extract.

Messages travel as plain data: `encode()` gives a JSON text for the
scratch table behind `--csv`, `data()` the template and parameters for the
JSON report, so memory stays flat however many findings there are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter
from typing import Any

MESSAGE_KEY = "$message"
"""Marks a nested message among a message's JSON parameters."""
JOIN_KEY = "$join"
"""Marks a list of values (texts or messages) to be joined with a separator."""


@dataclass(frozen=True, slots=True)
class Message:
    """An English template and the values of its `{placeholders}`."""

    template: str
    params: tuple[tuple[str, Any], ...] = ()

    def render(self, catalogue: Mapping[str, str] | None = None) -> str:
        """The message in the language of `catalogue` (English template -> translated one); English without one."""
        template = (catalogue or {}).get(self.template, self.template)
        values = {name: _render(value, catalogue) for name, value in self.params}
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            # a translation with a wrong placeholder must not lose the finding: say it in English
            return self.template.format(**values)

    def __str__(self) -> str:
        return self.render()

    def data(self) -> dict[str, Any]:
        """The parameters as JSON-ready data (nested messages as {'$message': template, 'params': ...})."""
        return {name: _value_data(value) for name, value in self.params}

    def encode(self) -> str:
        return json.dumps([self.template, self.data()], ensure_ascii=False)

    @classmethod
    def decode(cls, text: str) -> Message:
        template, params = json.loads(text)
        return cls.from_data(template, params)

    @classmethod
    def from_data(cls, template: str, params: Mapping[str, Any]) -> Message:
        return cls(template, tuple((name, _value_from(value)) for name, value in params.items()))


@dataclass(frozen=True, slots=True)
class Joined:
    """Values (texts or messages) shown one after the other with `separator` (a text or a message: ' or ')."""

    separator: str | Message
    items: tuple[Any, ...]


def joined(separator: str | Message, items) -> Joined:
    return Joined(separator, tuple(items))


def msg(template: str, /, **params: Any) -> Message:
    """A finding's message: `template` in English with `{name}` placeholders, filled from `params`."""
    return Message(template, tuple(params.items()))


def as_message(text: str | Message) -> Message:
    """A message for a text that may already be one (a plain text is its own template, not translated)."""
    return text if isinstance(text, Message) else Message("{text}", (("text", text),))


def placeholders(template: str) -> set[str]:
    """The names of a template's `{placeholders}` ('{path!r}' and '{size:,}' count as 'path' and 'size')."""
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in Formatter().parse(template) if field is not None}


def _render(value: Any, catalogue: Mapping[str, str] | None) -> Any:
    if isinstance(value, Message):
        return value.render(catalogue)
    if isinstance(value, Joined):
        return str(_render(value.separator, catalogue)).join(str(_render(item, catalogue)) for item in value.items)
    return value


def _value_data(value: Any) -> Any:
    if isinstance(value, Message):
        return {MESSAGE_KEY: value.template, "params": value.data()}
    if isinstance(value, Joined):
        return {JOIN_KEY: _value_data(value.separator), "items": [_value_data(item) for item in value.items]}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # a path or a date: kept as the text it shows


def _value_from(value: Any) -> Any:
    if isinstance(value, Mapping) and MESSAGE_KEY in value:
        return Message.from_data(value[MESSAGE_KEY], value.get("params", {}))
    if isinstance(value, Mapping) and JOIN_KEY in value:
        return Joined(_value_from(value[JOIN_KEY]), tuple(_value_from(item) for item in value.get("items", ())))
    return value
