"""Helpers for tests that drive the MCP server with the SDK's client (this package's and
the integration suite's): a tool result's data, or its error text."""

from __future__ import annotations

from typing import Any

from mcp.types import CallToolResult, TextContent

__all__ = ["tool_data", "tool_error"]


def tool_data(result: CallToolResult) -> dict[str, Any]:
    """The structured result of a call that must have succeeded."""
    if result.is_error or result.structured_content is None:
        raise AssertionError(f"the tool failed: {result.content}")
    data: dict[str, Any] = result.structured_content
    return data


def tool_error(result: CallToolResult) -> str:
    """The one line of a call that must have been a tool error."""
    if not result.is_error:
        raise AssertionError(f"the tool did not fail: {result.structured_content}")
    [content] = result.content
    if not isinstance(content, TextContent):
        raise TypeError(f"not a text error: {content}")
    return content.text
