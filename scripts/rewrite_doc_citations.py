"""Rewrite citations of the old briefing notes into citations of the repository's own docs/.

Comments, docstrings, templates, BPMN files and the README once cited notes that lived outside the
repository: ``DOMAIN §1.7`` (or ``DOMAIN.md §1.7``), ``DESIGN.md §2`` (or ``DESIGN §2``) and
``research/spiffworkflow.md §4``. Their content now lives in docs/ under the same section numbers, so
the rewrite is mechanical:

    DOMAIN §1.7                   -> docs/domain.md §1.7
    DESIGN.md §2                  -> docs/architecture.md §2
    research/spiffworkflow.md §4  -> docs/spiffworkflow.md §4

Forms are the exception: their text is shown to clerks, who never see the repository, so a rule
reference in a form names the regulation itself (:data:`FORM_SOURCES`) in the label's language.

The script is idempotent (a second run changes nothing) and safe to re-run after merging branches that
added new citations. ``tests/unit/test_doc_citations.py`` fails while any old citation is left.

Usage: ``python scripts/rewrite_doc_citations.py [--check]`` from the repository root (``--check`` only
lists what would change and exits 1 if anything would).
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOTS = ("engine", "web", "integrations", "processes", "forms", "tests", "bench", "scripts", "frontend/src", "docs")
TOP_FILES = ("README.md", "Makefile", "pyproject.toml")
SUFFIXES = {".py", ".html", ".md", ".bpmn", ".dmn", ".json", ".js", ".txt", ".po", ".toml", ".mako", ".css"}
SKIP_PARTS = {"node_modules", "build", "__pycache__", ".venv"}
# These two hold the old spellings on purpose, as data.
SKIP_FILES = {"scripts/rewrite_doc_citations.py", "tests/unit/test_doc_citations.py"}

# Order matters: the longer spellings first.
RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![\w/])(?:shared/)?research/spiffworkflow\.md"), "docs/spiffworkflow.md"),
    (re.compile(r"(?<![\w/])DOMAIN\.md\b"), "docs/domain.md"),
    (re.compile(r"(?<![\w/])DESIGN\.md\b"), "docs/architecture.md"),
    (re.compile(r"(?<![\w/])DOMAIN(?=\s*§)"), "docs/domain.md"),
    (re.compile(r"(?<![\w/])DESIGN(?=\s*§)"), "docs/architecture.md"),
    (re.compile(r"(?<![\w/])DOMAIN(?=:)"), "docs/domain.md"),
)

# A rule reference inside a form's text, "（DOMAIN §2.2）" or "(DOMAIN §2.2)": the regulation it rests on.
FORM_SOURCES: dict[str, tuple[str, str]] = {
    "2.2": ("依据《金融机构产品适当性管理办法》", "NFRA Order 2025 No. 7 on product suitability"),
    "2.4": ("依据《金融机构产品适当性管理办法》", "NFRA Order 2025 No. 7: special care from age 65"),
    "2.6": ("依据《商业银行理财业务监督管理办法》", "CBIRC Order 2018 No. 6: cooling-off of private WMPs"),
    "2.7": ("依据《私募投资基金募集行为管理办法》", "AMAC rules on private-fund sales: revisit after cooling-off"),
}
LINE_LIMIT = 130  # ruff's line-length (pyproject.toml)
FORM_CITATION = re.compile(r"(（|\()DOMAIN(?:\.md)? §(\d+(?:\.\d+)*)(）|\))")


def _form_source(match: re.Match[str]) -> str:
    opening, section, closing = match.groups()
    source = FORM_SOURCES.get(section)
    if source is None:
        return f"{opening}docs/domain.md §{section}{closing}"
    return f"（{source[0]}）" if opening == "（" else f"({source[1]})"


def rewrite(text: str, *, form: bool = False) -> str:
    """``text`` with every old citation replaced; unchanged if there is none."""
    if form:
        text = FORM_CITATION.sub(_form_source, text)
    for pattern, replacement in RULES:
        text = pattern.sub(replacement, text)
    return text


def _split_at(line: str, lowest: int, limit: int) -> int | None:
    """The last space in ``line[lowest:limit]`` to break at, if any."""
    cut = line.rfind(" ", lowest, limit)
    return cut if cut > lowest else None


def _refit_once(text: str, limit: int) -> str | None:
    """Break the first Python line that is too long, or None when there is none (or none can be broken safely).

    Only text is moved: a docstring or multi-line string line is broken at a space and continues with the same
    indentation; a comment line is broken into two comment lines; a trailing comment moves above its code line.
    """
    lines = text.splitlines(keepends=True)
    long = [i for i, line in enumerate(lines)
            if len(line.rstrip("\r\n")) > limit and "noqa" not in line]
    if not long:
        return None
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    for index in long:
        row = index + 1
        line = lines[index]
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        indent = body[: len(body) - len(body.lstrip())]
        for token in tokens:
            (start_row, start_col), (end_row, _) = token.start, token.end
            if not start_row <= row <= end_row:
                continue
            if token.type == tokenize.STRING and start_row != end_row:
                lowest = start_col + 3 if row == start_row else len(indent)
                cut = _split_at(body, lowest, limit)
                if cut is None:
                    break
                if row == start_row:
                    indent = " " * start_col
                lines[index] = body[:cut] + ending + indent + body[cut + 1:] + ending
                return "".join(lines)
            if token.type == tokenize.COMMENT and start_row == row:
                comment = body[start_col:]
                if body[:start_col].strip():  # a trailing comment: put it on its own line above the code
                    lines[index] = indent + comment + ending + body[:start_col].rstrip() + ending
                    return "".join(lines)
                cut = _split_at(body, start_col + 2, limit)
                if cut is None:
                    break
                lines[index] = body[:cut] + ending + indent + "# " + body[cut + 1:] + ending
                return "".join(lines)
    return None


def fit_lines(text: str, limit: int = LINE_LIMIT) -> str:
    """``text`` (Python source) with the lines the rewrite made longer than ``limit`` broken where that is safe."""
    for _ in range(1000):
        refitted = _refit_once(text, limit)
        if refitted is None:
            return text
        text = refitted
    return text


def candidates(root: Path = ROOT) -> Iterator[Path]:
    for name in TOP_FILES:
        if (root / name).is_file():
            yield root / name
    for top in ROOTS:
        base = root / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if (path.is_file() and path.suffix in SUFFIXES and relative not in SKIP_FILES
                    and not SKIP_PARTS.intersection(path.relative_to(root).parts)):
                yield path


def main(argv: list[str]) -> int:
    check = "--check" in argv
    changed = 0
    citations = 0
    for path in candidates():
        try:
            before = path.read_text("utf-8")
        except UnicodeDecodeError:
            continue
        relative = path.relative_to(ROOT).as_posix()
        after = rewrite(before, form=relative.startswith("forms/"))
        if path.suffix == ".py" and after != before:
            after = fit_lines(after)
        if after == before:
            continue
        count = sum(len(p.findall(before)) for p, _ in RULES)
        changed += 1
        citations += count
        print(f"{relative}: {count}")
        if not check:
            path.write_text(after, "utf-8")
    verb = "would change" if check else "changed"
    print(f"{verb} {changed} files, {citations} citations")
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
