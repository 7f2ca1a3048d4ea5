"""The kernel tools without a kernel: specs and the allowlist, output conversion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from jupyssh.mcp.providers.core import register as core_tools
from jupyssh.mcp.providers.kernel import _output
from jupyssh.mcp.providers.kernel import register as kernel_tools
from jupyssh.mcp.server import build_server
from jupyssh.mcp.settings import Settings
from jupyssh.mcp.testing import tool_data, tool_error


@pytest.fixture
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two jupyssh kernelspecs (on ``lab`` and ``other``) in a private JUPYTER_PATH."""
    data = tmp_path / "jupyter"
    for name, alias in (("on-lab", "lab"), ("on-other", "other")):
        folder = data / "kernels" / name
        folder.mkdir(parents=True)
        spec = {
            "argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": name,
            "language": "python",
            "metadata": {
                "kernel_provisioner": {"provisioner_name": "jupyssh", "config": {"host": alias}}
            },
        }
        (folder / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(data))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data))
    return data


@pytest.mark.asyncio
async def test_specs_say_their_alias_and_whether_it_is_allowed(specs: Path) -> None:
    server, _ = build_server(Settings(allow=frozenset({"lab"})), providers={"kernel": kernel_tools})
    async with Client(server) as client:
        listed = tool_data(await client.call_tool("kernel_specs", {}))["specs"]
    mine = {row["name"]: (row["alias"], row["allowed"]) for row in listed}
    assert mine["on-lab"] == ("lab", True)
    assert mine["on-other"] == ("other", False)


@pytest.mark.asyncio
async def test_a_spec_on_an_alias_not_allowed_is_refused_and_nothing_starts(
    specs: Path,
) -> None:
    server, _ = build_server(
        Settings(allow=frozenset({"lab"})), providers={"core": core_tools, "kernel": kernel_tools}
    )
    async with Client(server) as client:
        text = tool_error(await client.call_tool("kernel_start", {"spec": "on-other"}))
        missing = tool_error(await client.call_tool("kernel_start", {"spec": "nope"}))
        listed = tool_data(await client.call_tool("kernel_list", {}))
    assert "not on the MCP allowlist [other]" in text
    assert "no such jupyssh kernelspec [nope]" in missing
    assert listed == {"kernels": []}


@pytest.mark.parametrize(
    ("kind", "content", "expected"),
    [
        (
            "stream",
            {"name": "stdout", "text": "hi"},
            {"type": "stream", "name": "stdout", "text": "hi"},
        ),
        (
            "display_data",
            {"data": {"image/png": "iVBOR", "text/plain": "<Figure>"}},
            {"type": "image", "mime_type": "image/png", "data": "iVBOR"},
        ),
        (
            "execute_result",
            {"data": {"text/plain": "42"}},
            {"type": "execute_result", "text": "42"},
        ),
        (
            "error",
            {"ename": "KeyboardInterrupt", "evalue": "", "traceback": ["tb"]},
            {"type": "error", "ename": "KeyboardInterrupt", "evalue": "", "traceback": ["tb"]},
        ),
        ("execute_input", {"code": "x"}, None),
    ],
)
def test_outputs_become_json(kind: str, content: dict[str, Any], expected: Any) -> None:
    assert _output(kind, content) == expected


@pytest.mark.asyncio
async def test_images_in_a_result_are_also_mcp_image_content() -> None:
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ImageContent

    from jupyssh.mcp.hosts import HostPool
    from jupyssh.mcp.tasks import TaskManager
    from jupyssh.mcp.toolset import Services, ToolSet

    settings = Settings()
    server: MCPServer = MCPServer("test")
    tools = ToolSet(server, Services(settings, HostPool(settings), TaskManager()))

    async def plot() -> dict[str, Any]:
        """A result with a plot."""
        return {
            "result": {"outputs": [{"type": "image", "mime_type": "image/png", "data": "iVBOR"}]}
        }

    tools.add(plot, read_only=True)
    async with Client(server) as client:
        result = await client.call_tool("plot", {})
    assert tool_data(result)["result"]["outputs"][0]["data"] == "iVBOR"
    images = [block for block in result.content if isinstance(block, ImageContent)]
    assert [(image.mime_type, image.data) for image in images] == [("image/png", "iVBOR")]


@pytest.mark.asyncio
async def test_an_execute_on_a_kernel_that_died_fails_instead_of_waiting_forever() -> None:
    import queue

    from jupyssh.core.errors import KernelConnectionError
    from jupyssh.mcp.providers.kernel import _execute, _Kernel

    class DeadClient:
        def execute(self, code: str) -> str:
            return "msg-1"

        async def get_iopub_msg(self, timeout: float) -> dict[str, Any]:
            raise queue.Empty

    class DeadManager:
        async def is_alive(self) -> bool:
            return False

    kernel = _Kernel("kernel-1", "spec", "lab", DeadManager(), DeadClient())  # type: ignore[arg-type]
    with pytest.raises(KernelConnectionError, match="the kernel died"):
        await _execute(kernel, "print(1)", lambda *_: None)
