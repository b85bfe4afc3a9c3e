"""Every citation of the documentation points at a file in docs/ and a section that exists there.

Code and process files cite the rules and design they follow as ``docs/domain.md §1.7``,
``docs/architecture.md §2`` or ``docs/spiffworkflow.md §4``. A citation of a missing file or section,
or of the old briefing notes that are not part of the repository (``DOMAIN §…``, ``DESIGN.md``,
``research/…``), fails here; ``scripts/rewrite_doc_citations.py`` rewrites the old spellings.
"""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# docs/<name>.md, optionally followed by its section references: "§1.4–§1.7, §2.2", "§1.3/§1.6", "§1.4–1.5".
NUMBER = r"\d+(?:\.\d+)*"
CITATION = re.compile(rf"(?<![\w/.-])docs/([\w-]+\.md)(?:\s*(§{NUMBER}(?:\s*[–-]\s*§?{NUMBER}|\s*(?:,|/|and|&)\s*§{NUMBER})*))?")
HEADING = re.compile(rf"^#{{1,6}} §({NUMBER})\s", re.MULTILINE)
BRIEFING = re.compile(
    r"(?<![\w/])(?:DOMAIN(?:\.md)?\s*§|DOMAIN\.md\b|DOMAIN:|DESIGN(?:\.md)?\s*§|DESIGN\.md\b|(?:shared/)?research/[\w-]+\.md)"
)


def _rewriter():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("rewrite_doc_citations", ROOT / "scripts" / "rewrite_doc_citations.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REWRITER = _rewriter()
FILES = sorted(REWRITER.candidates(ROOT))


def _text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError:
        return ""


@cache
def sections(name: str) -> frozenset[str]:
    return frozenset(HEADING.findall((DOCS / name).read_text("utf-8")))


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def test_the_files_are_scanned():
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"README.md", "engine/config.py", "processes/complaint_handling.bpmn", "docs/domain.md"} <= names
    assert not {"scripts/rewrite_doc_citations.py", "tests/unit/test_doc_citations.py"} & names


def test_the_docs_state_their_heading_pattern_and_number_their_sections():
    for name in ("domain.md", "architecture.md", "spiffworkflow.md", "decisions.md"):
        assert len(sections(name)) >= 4, f"docs/{name} has no '## §n Title' headings"
    # The domain rules keep the section numbers the code has always cited.
    assert {"0", "1.3", "1.4", "1.7", "2.2", "2.10", "3.5", "4.3", "5.2", "5.6"} <= sections("domain.md")


def test_no_file_cites_the_briefing_notes():
    found = [f"{path.relative_to(ROOT)}:{_line(text, m.start())}: {m.group(0)}"
             for path in FILES for text in [_text(path)] for m in BRIEFING.finditer(text)]
    assert found == [], "run scripts/rewrite_doc_citations.py"


def test_every_docs_citation_names_an_existing_file_and_section():
    broken = []
    for path in FILES:
        text = _text(path)
        for m in CITATION.finditer(text):
            name, run = m.group(1), m.group(2)
            where = f"{path.relative_to(ROOT)}:{_line(text, m.start())}: {m.group(0)}"
            if not (DOCS / name).is_file():
                broken.append(f"{where} (no such file)")
                continue
            for number in re.findall(NUMBER, run or ""):
                if number not in sections(name):
                    broken.append(f"{where} (no §{number} in docs/{name})")
    assert broken == []


@pytest.mark.parametrize(("before", "after"), [
    ("(DOMAIN §1.7)", "(docs/domain.md §1.7)"),
    ("DOMAIN.md §1.4 worked example", "docs/domain.md §1.4 worked example"),
    ("SQLAlchemy models (DESIGN.md §2).", "SQLAlchemy models (docs/architecture.md §2)."),
    ("DESIGN §4 periodic_revisit", "docs/architecture.md §4 periodic_revisit"),
    ("(research/spiffworkflow.md §4), each", "(docs/spiffworkflow.md §4), each"),
    ("# DOMAIN: lunar years", "# docs/domain.md: lunar years"),
    ("DOMAIN_TABLE = {", "DOMAIN_TABLE = {"),
    ("docs/domain.md §1.7", "docs/domain.md §1.7"),
])
def test_the_rewrite_is_mechanical_and_idempotent(before, after):
    assert REWRITER.rewrite(before) == after
    assert REWRITER.rewrite(after) == after


def test_forms_name_the_regulation_not_a_repository_file():
    chinese = REWRITER.rewrite("不得代客户填写风险测评（DOMAIN §2.2）。", form=True)
    english = REWRITER.rewrite("never steer the customer's risk assessment (DOMAIN §2.2).", form=True)
    assert chinese == "不得代客户填写风险测评（依据《金融机构产品适当性管理办法》）。"
    assert english == "never steer the customer's risk assessment (NFRA Order 2025 No. 7 on product suitability)."


def test_a_rewritten_python_line_stays_within_the_line_limit():
    source = (
        'def f():\n'
        '    """Summary.\n\n'
        '    ' + "word " * 22 + '(DOMAIN §1.4–1.5), and then some more words\n'
        '    """\n'
        '    x = 1  # ' + "note " * 20 + '(DOMAIN §2.3) and more\n'
        '    # ' + "long " * 23 + '(DOMAIN §3.5) trailing words\n'
        '    return x\n'
    )
    fitted = REWRITER.fit_lines(REWRITER.rewrite(source), limit=130)
    assert max(len(line) for line in fitted.splitlines()) <= 130
    assert REWRITER.fit_lines(fitted, limit=130) == fitted
    compile(fitted, "<fitted>", "exec")
    assert " ".join(fitted.split()).count("docs/domain.md §") == 3
