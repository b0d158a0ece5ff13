"""The one way every benchmark reads its command line: ``--help`` prints the module's docstring."""

from __future__ import annotations

import argparse

from simulations.policies.slo import Slo


def parser(doc: str | None, prog: str) -> argparse.ArgumentParser:
    """An argument parser whose help is the benchmark's docstring (what it measures, against what)."""
    return argparse.ArgumentParser(
        prog=f"python -m {prog}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def add_ttft_slo(cli: argparse.ArgumentParser) -> None:
    """``--ttft-slo SECONDS``: every case's TTFT target instead of its own (one a profile can reach)."""
    cli.add_argument(
        "--ttft-slo", type=_ttft_seconds, metavar="SECONDS", help="every case's TTFT target instead of its own"
    )


def with_ttft(slo: Slo, ttft_s: float | None) -> Slo:
    """``slo`` with the ``--ttft-slo`` override, when one was given."""
    return slo if ttft_s is None else slo.model_copy(update={"ttft_s": ttft_s})


def _ttft_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 3600] seconds")
    return seconds
