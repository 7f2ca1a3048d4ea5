"""mkdocs hook: pages that list facts the code owns are filled in from the code itself."""

from __future__ import annotations

from typing import Any

from jupyssh.core.errors import JupysshError, exit_codes
from jupyssh.kernel.options import markdown_table as kernel_options_table


def _error_rows() -> str:
    classes: dict[str, type[JupysshError]] = {}
    stack: list[type[JupysshError]] = [JupysshError]
    while stack:
        cls = stack.pop()
        classes[cls.kind] = cls
        stack.extend(cls.__subclasses__())
    lines = ["| kind | exit status | class | meaning |", "|---|---|---|---|"]
    for kind, code in exit_codes().items():
        cls = classes[kind]
        meaning = (cls.__doc__ or "").strip().splitlines()[0]
        lines.append(f"| `{kind}` | {code} | `{cls.__module__}.{cls.__name__}` | {meaning} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **_: Any) -> str:
    markdown = markdown.replace("{{ error_table }}", _error_rows())
    if "{{ kernel_options }}" in markdown:  # the kernel page's table of its options
        markdown = markdown.replace("{{ kernel_options }}", kernel_options_table())
    return markdown
