"""Irreversible acts ask first (web/static/js/confirm.js: a button with data-confirm), edits warn before they are
lost (web/static/js/unsaved.js: data-unsaved), and both scripts are on every staff and portal page."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
FRONTEND = Path(__file__).resolve().parents[2] / "frontend" / "src"


def _button(template: str, marker: str) -> str:
    source = (TEMPLATES / template).read_text(encoding="utf-8")
    found = re.search(rf"<button[^>]*{re.escape(marker)}[^>]*>", source)
    assert found, (template, marker)
    return found.group(0)


def test_irreversible_acts_ask_first():
    for template, marker in (("portal/complaint.html", 'id="withdraw"'),
                             ("complaints_desk/case.html", 'id="record-act"'),
                             ("supervisor.html", 'id="terminate-'), ("approvals.html", 'id="approve-'),
                             ("admin_grants.html", "Revoke this grant"), ("admin_users.html", "Revoke all API tokens"),
                             ("designer/process.html", 'id="execute-migration"'),
                             ("designer/index.html", "Deploy the imported process"),
                             ("designer/index.html", 'class="discard-draft"'),
                             ("designer/process.html", 'class="suspend-version"'),
                             ("designer/process.html", 'class="retire-version"')):
        assert "data-confirm=" in _button(template, marker), (template, marker)
    modeler = (FRONTEND / "modeler.js").read_text(encoding="utf-8")
    assert "window.confirm(t('confirmDiscard'))" in modeler
    # a deploy shows its summary (diff, live instances, migration dry run) in a dialog and waits for the confirm button
    assert "previewAndConfirm(" in modeler and "confirmation" in modeler
    assert "showModal()" in (FRONTEND / "deploy-dialog.js").read_text(encoding="utf-8")


def test_unsaved_edits_are_guarded_on_every_form_people_fill_in():
    for template in ("base.html", "portal/base.html"):
        source = (TEMPLATES / template).read_text(encoding="utf-8")
        assert "js/confirm.js" in source and "js/unsaved.js" in source, template
    for template, marker in (("task.html", 'id="task-form-card"'), ("complaints_desk/new.html", 'id="complaint-form"'),
                             ("portal/new.html", "portal.new_complaint")):
        source = (TEMPLATES / template).read_text(encoding="utf-8")
        assert re.search(rf"<[^>]*{re.escape(marker)}[^>]*data-unsaved", source), template
    for script in ("modeler.js", "form-editor.js"):
        assert "beforeunload" in (FRONTEND / script).read_text(encoding="utf-8"), script
