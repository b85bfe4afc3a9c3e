"""Reading what was submitted on the tasks of an instance: the approved work, its earlier round, send-backs.

Each completion of a task with a form leaves a ``task_submission`` row (``record``, called by
``engine.services.tasks.complete_task`` in the completion's own transaction). An approval task names what it
approves (``approves``); its page shows the latest submission of each approved task and, when that task was
done more than once (sent back and resubmitted), the round before it for the diff. A task that comes back after
an approval said no shows that approval's comment.

Convention for approval forms: the decision is the boolean field ``approved`` and the reason
``approval_comment`` (``forms/complaint_approve.json``, ``forms/service_request_approve.json``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from engine.bpmn.extensions import task_title, user_task_config
from engine.bpmn.loader import ParsedBundle
from engine.casefile.model import Submission
from engine.db.casefile import TaskSubmission
from engine.privacy import FieldCipher, Where, submission_field


def sealed(cipher: FieldCipher, data: dict[str, Any], where: Where) -> str:
    """Form data as stored: JSON sealed with the data key (it carries personal data), bound to where it lives."""
    return cipher.seal(json.dumps(data, ensure_ascii=False, default=str), where)


def opened(cipher: FieldCipher, token: str, where: Where) -> dict[str, Any]:
    found = json.loads(cipher.unseal(token, where))
    return found if isinstance(found, dict) else {}


def record(session: Session, cipher: FieldCipher, *, instance_id: uuid.UUID, task_id: uuid.UUID, element_id: str,
           form_key: str | None, data: dict[str, Any], by: str, at: datetime) -> None:
    """Keep what ``by`` submitted on the task (the cleaned form data), sealed."""
    session.connection().execute(insert(TaskSubmission), {
        "instance_id": instance_id, "task_id": task_id, "element_id": element_id, "form_key": form_key,
        "data_sealed": sealed(cipher, data, submission_field(task_id)), "submitted_by": by, "submitted_at": at})


def spec_of(bundle: ParsedBundle, element_id: str) -> Any:
    """The task spec of ``element_id`` in the top process or one of its subprocesses, or None."""
    for spec in (bundle.spec, *bundle.subprocess_specs.values()):
        found = spec.task_specs.get(element_id) if spec is not None else None
        if found is not None:
            return found
    return None


def _rows(session: Session, instance_id: uuid.UUID) -> list[TaskSubmission]:
    return list(session.scalars(select(TaskSubmission).where(TaskSubmission.instance_id == instance_id)
                                .order_by(TaskSubmission.id)))


def history(session: Session, cipher: FieldCipher, bundle: ParsedBundle, instance_id: uuid.UUID) -> list[Submission]:
    """Every submission of the instance, oldest first, each with the round before it of the same task."""
    last: dict[str, Submission] = {}
    found = []
    for row in _rows(session, instance_id):
        spec = spec_of(bundle, row.element_id)
        before = last.get(row.element_id)
        item = Submission(element_id=row.element_id, title=task_title(spec) if spec is not None else row.element_id,
                          form=bundle.forms.get(row.form_key) if row.form_key else None,
                          data=opened(cipher, row.data_sealed, submission_field(row.task_id)), by=row.submitted_by,
                          at=row.submitted_at,
                          round=before.round + 1 if before else 1, previous=before.data if before else None)
        found.append(item)
        last[row.element_id] = item
    return found


def approved_work(session: Session, cipher: FieldCipher, bundle: ParsedBundle, instance_id: uuid.UUID,
                  element_id: str) -> list[Submission]:
    """What the approval task ``element_id`` approves: the latest submission of each task it names (in the order
    it names them), with the round before for the diff. Empty for a task that approves nothing."""
    spec = spec_of(bundle, element_id)
    approves = user_task_config(spec).approves if spec is not None else ()
    if not approves:
        return []
    latest: dict[str, Submission] = {}
    for item in history(session, cipher, bundle, instance_id):
        latest[item.element_id] = item
    return [latest[name] for name in approves if name in latest]


@dataclass(frozen=True)
class SentBack:
    """Why a task is here again: an approval of it said no."""

    by: str
    at: datetime
    comment: str
    approval_title: str


def sent_back(session: Session, cipher: FieldCipher, bundle: ParsedBundle, instance_id: uuid.UUID,
              element_id: str) -> SentBack | None:
    """The approval that sent ``element_id`` back, if the latest approval of it since its last submission said no."""
    mine: datetime | None = None
    verdict: SentBack | None = None
    for item in history(session, cipher, bundle, instance_id):
        if item.element_id == element_id:
            mine, verdict = item.at, None
            continue
        spec = spec_of(bundle, item.element_id)
        if spec is None or element_id not in user_task_config(spec).approves or mine is None or item.at < mine:
            continue
        if item.data.get("approved") is False:
            verdict = SentBack(item.by, item.at, str(item.data.get("approval_comment") or ""), item.title)
        else:
            verdict = None
    return verdict
