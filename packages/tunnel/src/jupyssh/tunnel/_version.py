"""The version of jupyssh-tunnel (static, read by hatchling)."""

__version__ = "0.1.0"
