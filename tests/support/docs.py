"""The `gpuscale` command lines of the README and docs/, for the tests that parse and run them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Shell variables the pages set before their commands.
VARIABLES = {"$T": "simulations/data/azure2023_code.csv.gz"}


def documented_commands(pages: list[Path] = PAGES) -> list[tuple[str, str]]:
    """(page:line, command) for each `gpuscale ...` line of a ```bash block, continuations joined,
    comments and optional [...] groups dropped."""
    found = []
    for page in pages:
        in_bash, pending, start = False, "", 0
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if line.startswith("```"):
                in_bash = line.strip() in ("```bash", "```sh")
                continue
            if not in_bash:
                continue
            text = re.sub(r"\s+#.*$", "", line).strip()
            if not pending:
                start = number
            pending = f"{pending} {text}".strip()
            if pending.endswith("\\"):
                pending = pending[:-1].strip()
                continue
            command, pending = pending, ""
            match = re.match(r"^(?:\.venv/bin/)?gpuscale\s+(.*)$", command)
            if match:
                found.append((f"{page.relative_to(ROOT)}:{start}", match.group(1)))
    return found


def without_optional_groups(text: str) -> str:
    while re.search(r"\[[^\[\]]*\]", text):
        text = re.sub(r"\s*\[[^\[\]]*\]", "", text)
    return text
