"""What a config field allows, declared next to its default, so that one validator
(experiments/validate.py) checks every field the same way and a test can enumerate them:
a field added without its allowed values fails the suite.

    horizon: int = setting(2048, Int(low=1))

Every entry point checks its settings with `check_settings` and stops on a ConfigError
through `stop_on_bad_input`, so a bad input reads and exits the same everywhere.
"""

import contextlib
import dataclasses
import importlib
import inspect
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

METADATA_KEY = "allowed"
ID_NEUTRAL_KEY = "id_neutral"
ABSENT = object()


class ConfigError(ValueError):
    """A bad config value: the message is the single line shown to the user."""


@dataclass(frozen=True)
class Allowed:
    kind: type  # int, float, bool, str or list (a non-empty list of `item`)
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself excluded
    choices: tuple = ()
    optional: bool = False  # null allowed (meaning: off / the default)
    item: type = int  # a list's elements: int (layer widths) or str (names)
    words: tuple = ()  # words allowed besides the kind's values (`auto`)

    def problem(self, key: str, value) -> str | None:
        """One line saying what is wrong with `value` and what is allowed; None if it is fine."""
        if value is None:
            return None if self.optional else f"{key} must be set: {self.describe(key)}"
        if value in self.words:
            return None
        if self.choices:
            if value in self.choices:
                return None
            return f"unknown {key} '{value}'; allowed: {', '.join(map(str, self.choices))}"
        if not self.is_kind(value):
            return f"{key}={value} must be {self.describe(key)}"
        values = value if self.kind is list else [value]
        if any(not self.in_range(v) for v in values):
            return f"{key}={value} is out of range; allowed: {self.bounds(key)}"
        return None

    def check(self, key: str, value) -> None:
        """ConfigError with `problem`'s line when `value` is not allowed."""
        problem = self.problem(key, value)
        if problem:
            raise ConfigError(problem)

    def is_kind(self, value) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.kind is int:
            return isinstance(value, int)
        if self.kind is float:
            return isinstance(value, int | float) and math.isfinite(value)
        if self.kind is list:
            item = int | float if self.item is float else self.item
            return (isinstance(value, list | tuple) and len(value) > 0
                    and all(isinstance(v, item) and not isinstance(v, bool) and v != ""
                            for v in value))  # fmt: skip
        return isinstance(value, str) and value != ""

    def in_range(self, value) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or value <= self.high

    def bounds(self, key: str) -> str:
        """`0.0 < delta <= 10.0`, `horizon >= 1`: the range, named as the key's last part."""
        name = key.rpartition(".")[2]
        low = f"{self.low!r} {'<' if self.low_open else '<='} " if self.low is not None else ""
        if self.high is not None:
            return f"{low}{name} <= {self.high!r}"
        return f"{name} {'>' if self.low_open else '>='} {self.low!r}" if low else ""

    def describe(self, key: str) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        kinds = {bool: "true or false", int: "an integer", float: "a number", str: "a non-empty string",
                 list: f"a non-empty list of {ITEM_KINDS[self.item]}"}  # fmt: skip
        bounds = self.bounds(key)
        described = kinds[self.kind] + (f" with {bounds}" if bounds else "")
        described += "".join(f" or {word}" for word in self.words)
        return described + (" (or null)" if self.optional else "")

    def invalid(self):
        """A value this field rejects (for the test that enumerates every field)."""
        if self.choices:
            return "no_such_choice"
        if self.kind is bool:
            return "maybe"
        if self.kind is str:
            return ""
        if self.kind is list:
            return [0] if self.low is not None and self.low > 0 else "x"
        if self.low is not None:
            return self.low if self.low_open else self.low - 1
        return self.high + 1 if self.high is not None else "x"


def Int(low: int | None = 0, high: int | None = None, optional: bool = False) -> Allowed:
    return Allowed(int, low, high, optional=optional)


def Real(low: float | None = None, high: float | None = None, low_open: bool = True,
         optional: bool = False) -> Allowed:  # fmt: skip
    return Allowed(float, low, high, low_open, optional=optional)


def OneOf(*choices, optional: bool = False) -> Allowed:
    return Allowed(str, choices=tuple(choices), optional=optional)


ITEM_KINDS = {int: "integers", float: "numbers", str: "names"}
FLAG = Allowed(bool)
TEXT = Allowed(str)
LAYERS = Allowed(list, low=1)  # hidden layer widths
NAMES = Allowed(list, item=str)  # e.g. sweep names
FRACTIONS = Allowed(list, low=0.0, high=1.0, low_open=True, item=float)  # each in (0, 1]
LEARNING_RATE = Real(0.0, 100.0)  # an optimiser's step size; plain SGD steps need large ones


def setting(default, allowed: Allowed | None, id_neutral=ABSENT, **kwargs) -> dataclasses.Field:
    """A dataclass field with its allowed values. `None` for a field another check covers
    (say which in a comment): it is still listed, so nothing is left unchecked by accident.

    `id_neutral`: for a field added after runs were recorded, the value those runs had. A
    run at that value leaves the field out of its run id (experiments.spec), so earlier
    runs keep their ids and their records are found again."""
    metadata = {METADATA_KEY: allowed} | (
        {} if id_neutral is ABSENT else {ID_NEUTRAL_KEY: id_neutral}
    )
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: default.copy(), metadata=metadata,
                                 **kwargs)  # fmt: skip
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def id_neutral_values(config_cls) -> dict:
    """The fields of a config dataclass that declare an `id_neutral` value, with it."""
    return {f.name: f.metadata[ID_NEUTRAL_KEY] for f in dataclasses.fields(config_cls)
            if ID_NEUTRAL_KEY in f.metadata}  # fmt: skip


def allowed_values(config_cls) -> dict[str, Allowed | None]:
    """Every field of a config dataclass with what it allows; raises for a field that does
    not say (declared without `setting`)."""
    out = {}
    for f in dataclasses.fields(config_cls):
        if METADATA_KEY not in f.metadata:
            raise TypeError(f"{config_cls.__name__}.{f.name} declares no allowed values")
        out[f.name] = f.metadata[METADATA_KEY]
    return out


def lookup(tree: dict, key: str, default=ABSENT):
    """tree["a"]["b"] for key "a.b"; `default` where a part is missing."""
    node = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def settings_problems(tree: dict, keys: dict[str, Allowed | None]) -> list[str]:
    """Every problem of a settings tree (a plain dict) against `keys`, one line each: first
    each key `keys` does not name (a key it names is covered whole, with what lies under
    it), then each value its key does not allow. Keys of `keys` absent from the tree are
    skipped."""
    problems = [unknown_key(path, keys) for path in unknown_paths(tree, keys)]
    for key, allowed in keys.items():
        value = lookup(tree, key)
        if allowed is not None and value is not ABSENT:
            problems += [p for p in [allowed.problem(key, value)] if p]
    return problems


def check_settings(tree: dict, keys: dict[str, Allowed | None]) -> None:
    """ConfigError with the first of `settings_problems`."""
    problems = settings_problems(tree, keys)
    if problems:
        raise ConfigError(problems[0])


def unknown_paths(tree: dict, keys: dict, prefix: str = "") -> list[str]:
    """The paths of `tree` that no key of `keys` names or lies under, each at its highest level."""
    out = []
    for name, value in tree.items():
        path = f"{prefix}{name}"
        if path in keys:
            continue
        if any(key.startswith(f"{path}.") for key in keys):
            out += unknown_paths(value, keys, f"{path}.") if isinstance(value, dict) else []
        else:
            out.append(path)
    return out


def unknown_key(path: str, keys) -> str:
    """`unknown key 'train.nope'; allowed: train.horizon, ...`: the names beside it."""
    parent = path.rpartition(".")[0]
    prefix = f"{parent}." if parent else ""
    beside = [prefix + key.removeprefix(prefix).split(".")[0] for key in keys
              if key.startswith(prefix)]  # fmt: skip
    return f"unknown key '{path}'; allowed: {', '.join(dict.fromkeys(beside))}"


@contextlib.contextmanager
def stop_on_bad_input():
    """Around an entry point's checks: a ConfigError raised inside stops the program before
    anything starts, as one line on stderr (no traceback) and exit code 2."""
    try:
        yield
    except ConfigError as error:
        line = " ".join(part.strip() for part in str(error).splitlines() if part.strip())
        print(f"error: {line}", file=sys.stderr)
        sys.exit(2)


@dataclass(frozen=True)
class Function(Allowed):
    """A function named `module:function` that accepts the call `arguments` (positionally)
    and gives `gives`: importable, callable and of a compatible signature, checked before
    the report starts, so that a wrong name fails in one line, not after minutes of work."""

    arguments: tuple[str, ...] = ()
    gives: str = ""

    def problem(self, key: str, value) -> str | None:
        problem = super().problem(key, value)
        if problem or value is None:
            return problem
        try:
            named_function(value, self.arguments)
        except ConfigError as error:
            return f"{key}={value}: {error}; expected {self.describe(key)}"
        return None

    def describe(self, key: str) -> str:
        return f"module:function, a function f({', '.join(self.arguments)}) -> {self.gives}"


def named_function(name: str, arguments: tuple[str, ...]) -> Callable:
    """The function `module:function` names; ConfigError, one line, when it cannot be
    imported, is not callable or cannot be called with `arguments` positionally."""
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise ConfigError("not of the form module:function")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any failure of a user's module on import, as one line
        raise ConfigError(f"cannot import {module_name} ({type(error).__name__}: "
                          f"{' '.join(str(error).split())})") from error  # fmt: skip
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigError(f"{module_name} has no function {attribute}")
    try:
        signature = inspect.signature(function)
    except ValueError as error:  # a built-in without one
        raise ConfigError(f"{attribute} has no signature to check") from error
    try:
        signature.bind(*arguments)
    except TypeError as error:
        raise ConfigError(f"{attribute}{signature} does not take that call ({error})") from error
    return function
