"""The one way every benchmark reads its command line: ``--help`` prints the module's docstring."""

from __future__ import annotations

import argparse


def parser(doc: str | None, prog: str) -> argparse.ArgumentParser:
    """An argument parser whose help is the benchmark's docstring (what it measures, against what)."""
    return argparse.ArgumentParser(
        prog=f"python -m {prog}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
