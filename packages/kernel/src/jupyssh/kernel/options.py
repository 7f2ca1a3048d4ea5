"""The options of a jupyssh kernelspec, declared once, and what is derived from them.

The provisioner's options are :class:`~jupyssh.kernel.provisioner.SSHProvisioner`'s
configurable traits (``class_traits(config=True)``): their names are the keys of
``kernel.json``'s ``metadata.kernel_provisioner.config``, their ``help`` and default
values are the help of the click options of ``jupyssh kernel add``/``edit`` and the rows
of the docs table, and their ``@validate`` methods check a value wherever it is set.
The two kernelspec fields the commands also set (``display_name``, ``interrupt_mode``,
top-level keys of ``kernel.json``) are traits of :class:`SpecFields`, read the same way.
Nothing else may restate a name, a default or a help text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from traitlets import Bool, Enum, Float, HasTraits, Int, List, TraitType, Unicode

from jupyssh.kernel.provisioner import SSHProvisioner

__all__ = [
    "NOT_ON_CLI",
    "Option",
    "SpecFields",
    "click_options",
    "markdown_table",
    "option",
    "options",
]


class SpecFields(HasTraits):
    """The kernelspec's own fields that ``jupyssh kernel add``/``edit`` set (top-level
    keys of ``kernel.json``, read by every frontend, not by the provisioner)."""

    display_name = Unicode(
        "", help="The name frontends show (default: the host's kernel name and the alias)."
    )
    interrupt_mode = Enum(
        ["message", "signal"],
        default_value="message",
        help="How an interrupt reaches the kernel: 'message' (on its control channel) or "
        "'signal' (SIGINT to its process group on the host).",
    )


#: Options with no click option of their own in add/edit, and how they are given instead.
NOT_ON_CLI = {
    "host": "the `ALIAS` argument",
    "ssh_config": "`-F FILE`",
    "existing": "`jupyssh kernel launch --existing`",
}


@dataclass(frozen=True)
class Option:
    """One option: a trait, seen as a kernel.json key and as a click option."""

    key: str
    trait: TraitType[Any, Any]
    #: A top-level key of kernel.json (a :class:`SpecFields` trait), else a provisioner one.
    top_level: bool = False

    @property
    def flag(self) -> str:
        return str(self.trait.metadata.get("flag") or "--" + self.key.replace("_", "-"))

    @property
    def help(self) -> str:
        return str(self.trait.help)

    @property
    def default(self) -> Any:
        if isinstance(self.trait, List):
            return []  # traitlets makes a list's default per instance (default_value is unset)
        return self.trait.default_value

    @property
    def default_text(self) -> str:
        """The default as help and docs show it ("" when there is none to show)."""
        value = self.default
        if self.trait.metadata.get("required"):
            return "(required)"
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, list):
            return " ".join(value)
        return "" if value is None else str(value)

    def help_text(self, *, show_default: bool) -> str:
        """The trait's help, with its default when there is one to show."""
        if show_default and self.default_text:
            return f"{self.help}  [default: {self.default_text}]"
        return self.help

    @property
    def on_cli(self) -> bool:
        return self.key not in NOT_ON_CLI

    @property
    def choices(self) -> list[str] | None:
        values = getattr(self.trait, "values", None) if isinstance(self.trait, Enum) else None
        return [str(v) for v in values] if values else None

    def click_option(self, *, show_default: bool = True) -> Callable[[Any], Any]:
        """This option as click declares it; its value is None when not given, so a command
        knows what the user set (``add`` writes only that, ``edit`` changes only that)."""
        text = self.help_text(show_default=show_default)
        if isinstance(self.trait, Bool):
            negative = "--no-" + self.flag[2:]
            return click.option(f"{self.flag}/{negative}", self.key, default=None, help=text)
        if isinstance(self.trait, List):
            # Repeated words; none given is None, as for every other option.
            return click.option(
                self.flag,
                self.key,
                multiple=True,
                default=None,
                callback=lambda _ctx, _param, words: list(words) or None,
                help=text,
            )
        kind: click.ParamType[Any] | type[Any] = str
        if self.choices is not None:
            kind = click.Choice(self.choices)
        elif isinstance(self.trait, Float):
            kind = float
        elif isinstance(self.trait, Int):
            kind = int
        return click.option(self.flag, self.key, type=kind, default=None, help=text)


def _declared(cls: type[HasTraits], *, top_level: bool) -> list[Option]:
    traits = cls.class_traits(config=True) if not top_level else cls.class_traits()
    # In the order the class declares them (its __dict__), not alphabetically.
    order = [name for klass in reversed(cls.__mro__) for name in vars(klass) if name in traits]
    return [Option(name, traits[name], top_level) for name in dict.fromkeys(order)]


def options() -> list[Option]:
    """Every option: the provisioner's, then the kernelspec's own fields."""
    return _declared(SSHProvisioner, top_level=False) + _declared(SpecFields, top_level=True)


def option(key: str) -> Option:
    """The option of kernel.json key ``key`` (KeyError for an unknown key)."""
    for candidate in options():
        if candidate.key == key:
            return candidate
    raise KeyError(key)


def click_options(
    *, keys: tuple[str, ...] | None = None, show_default: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding the click option of every option on the CLI (or of ``keys``)."""
    chosen = [o for o in options() if o.on_cli and (keys is None or o.key in keys)]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for item in reversed(chosen):
            command = item.click_option(show_default=show_default)(command)
        return command

    return decorate


def markdown_table() -> str:
    """The docs table of every option (``{{ kernel_options }}`` in docs/packages/kernel.md)."""
    lines = ["| option | kernel.json key | default | meaning |", "|---|---|---|---|"]
    for item in options():
        given = f"`{item.flag}`" if item.on_cli else NOT_ON_CLI[item.key]
        key = f"`{item.key}`" + (" (top level)" if item.top_level else "")
        meaning = item.help.replace("|", "\\|")
        text = item.default_text
        default = f"`{text}`" if text and not text.startswith("(") else text or "-"
        lines.append(f"| {given} | {key} | {default} | {meaning} |")
    return "\n".join(lines)
