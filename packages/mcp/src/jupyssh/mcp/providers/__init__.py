"""The tool providers jupyssh-mcp ships, one module per jupyssh package, each loaded
only through the ``jupyssh.mcp.tools`` entry point of that package's name."""
