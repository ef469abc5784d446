"""argparse value types and actions shared by the subcommands.

A bad number gets the same clear message everywhere, and every optional flag reads an empty value
as "not given": Tekton passes "" for a param nobody set, and a thin step passes params straight
through (`args: [--runtime-class, $(params.RUNTIME_CLASS)]`) without shell glue.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

TRUE_WORDS, FALSE_WORDS = ("true", "yes", "1", "on"), ("false", "no", "0", "off", "")


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive_int(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"{text} must be a number >= 0")
    return value


class _FlagAction(argparse.Action):
    """argparse's Action call, reduced to what each flag kind stores; `parse` converts one value
    and a bad value gets argparse's own "argument --flag: ..." usage error."""

    def __init__(self, *args: Any, parse: Callable[[str], Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parse = parse

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        self.store(namespace, values)

    def store(self, namespace: argparse.Namespace, values: Any) -> None:
        raise NotImplementedError

    def convert(self, text: str) -> Any:
        if self.parse is None:
            return text
        try:
            return self.parse(text)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise argparse.ArgumentError(self, str(exc)) from None


class EmptyIsUnset(_FlagAction):
    """`--flag VALUE`; `--flag ""` leaves the default. `parse` converts a non-empty value."""

    def store(self, namespace: argparse.Namespace, values: Any) -> None:
        if values != "":
            setattr(namespace, self.dest, self.convert(values))


class ListFlag(_FlagAction):
    """Zero or more values, repeatable: `--toleration a:NoSchedule b:NoExecute --toleration c:`.
    Empty entries are dropped, so a Tekton array param can expand in place (`$(params.X[*])`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("nargs", "*")
        kwargs.setdefault("default", [])
        super().__init__(*args, **kwargs)

    def store(self, namespace: argparse.Namespace, values: Any) -> None:
        items = list(getattr(namespace, self.dest) or [])
        items += [self.convert(v) for v in values if v != ""]
        setattr(namespace, self.dest, items)


class BoolFlag(_FlagAction):
    """`--flag` = true; `--flag=true|false` (also yes/no/1/0); `--flag ""` = false."""

    def __init__(
        self, option_strings: Sequence[str], dest: str, default: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(
            option_strings, dest, nargs="?", const="true", default=default, metavar="BOOL", **kwargs
        )

    def store(self, namespace: argparse.Namespace, values: Any) -> None:
        word = str(values).strip().lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise argparse.ArgumentError(self, f"{values!r} is not true or false")
        setattr(namespace, self.dest, word in TRUE_WORDS)
