"""The `kb` command line: the composition root, which may import every layer."""

from kb.cli.main import main

__all__ = ["main"]
