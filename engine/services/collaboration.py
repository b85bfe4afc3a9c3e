"""Comments and attachments on a task or its instance.

Attachments are stored outside the database rows, content-addressed by SHA-256 under
``settings.uploads.dir`` (written before the row commits; an orphan file after a crash is
harmless and deduplicated). Uploads are limited in size and type, and the type is checked
against the file's first bytes, not only its name. Whoever may see the task may read and add.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.context import EngineContext
from engine.db.models import Attachment, Comment, HumanTask, TaskLike
from engine.db.session import unit_of_work
from engine.errors import InvalidInputError, NotFoundError, PermissionDeniedError, TaskNotFoundError
from engine.inputs import check_text
from engine.runtime import lifecycle
from engine.runtime import step as steps
from engine.services.authz import require_any_role
from engine.services.instances import parse_id
from engine.views import Actor, AttachmentView, CommentView

MAX_COMMENT = 4000
# extension -> (content type, accepted leading bytes; empty: must be UTF-8 text)
ALLOWED = {
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (b"PK\x03\x04",)),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (b"PK\x03\x04",)),
    ".txt": ("text/plain; charset=utf-8", ()),
}


class AttachmentNotFoundError(NotFoundError):
    code = "attachment_not_found"


def _visible_task(session: Session, task_id: uuid.UUID, actor: Actor) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None:
        raise TaskNotFoundError(f"no task {task_id}")
    _check_visible(row, actor)
    return row


def _check_visible(task: TaskLike | None, actor: Actor) -> TaskLike:
    assert task is not None
    if not lifecycle.can_see(actor, task):
        raise PermissionDeniedError("this task is not yours to see")
    return task


def insert_row(session: Session, row: Comment | Attachment) -> None:
    session.add(row)
    session.flush()  # its id, for the audit event


def add_comment(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor, text: str) -> CommentView:
    require_any_role(actor)
    text = check_text((text or "").strip(), "text")
    if not text or len(text) > MAX_COMMENT:
        raise InvalidInputError(f"a comment needs 1 to {MAX_COMMENT} characters")

    def act(step: steps.Step) -> Comment:
        task = _check_visible(step.task, actor)
        row = Comment(instance_id=task.instance_id, task_id=task.id, author=actor.username, text=text, at=step.now)
        step.write(lambda session: insert_row(session, row))
        step.audit("comment.added", actor=actor.username, after=lambda: {"task": str(task.id), "comment": row.id})
        return row

    row = steps.on_task(ctx, parse_id(task_id, "task"), act)
    return CommentView(row.id, str(row.task_id), row.author, row.text, row.at)


def list_comments(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor) -> list[CommentView]:
    """Comments of the task's whole instance, oldest first (earlier steps' notes matter too)."""
    require_any_role(actor)
    with unit_of_work(ctx.sessions, write=False) as session:
        task = _visible_task(session, parse_id(task_id, "task"), actor)
        rows = session.scalars(select(Comment).where(Comment.instance_id == task.instance_id).order_by(Comment.at, Comment.id))
        return [CommentView(r.id, str(r.task_id) if r.task_id else None, r.author, r.text, r.at) for r in rows]


def check_file(ctx: EngineContext, filename: str, content: bytes) -> str:
    name = Path(filename or "").name
    if not name or len(name) > 200:
        raise InvalidInputError("the file needs a name of at most 200 characters")
    if len(content) > ctx.settings.uploads.max_bytes:
        raise InvalidInputError(f"files may be at most {ctx.settings.uploads.max_mb} MB")
    if not content:
        raise InvalidInputError("the file is empty")
    allowed = ALLOWED.get(Path(name).suffix.lower())
    if allowed is None:
        raise InvalidInputError(f"allowed file types: {', '.join(sorted(ALLOWED))}")
    content_type, magics = allowed
    if magics and not any(content.startswith(m) for m in magics):
        raise InvalidInputError(f"{name} does not look like a {Path(name).suffix} file")
    if not magics:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"{name} is not UTF-8 text") from exc
    return content_type


def store_file(ctx: EngineContext, digest: str, content: bytes) -> None:
    path = ctx.settings.uploads.dir / digest[:2] / digest
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_bytes(content)
    os.replace(temp, path)  # atomic: readers never see half a file


def add_attachment(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor, filename: str,
                   content: bytes) -> AttachmentView:
    """Store a file for the task (size and type checked). Raises InvalidInputError, TaskNotFoundError."""
    require_any_role(actor)
    content_type = check_file(ctx, filename, content)
    digest = hashlib.sha256(content).hexdigest()

    def act(step: steps.Step) -> Attachment:
        task = _check_visible(step.task, actor)
        store_file(ctx, digest, content)
        row = Attachment(instance_id=task.instance_id, task_id=task.id, filename=Path(filename).name,
                         content_type=content_type, size=len(content), sha256=digest, uploaded_by=actor.username,
                         at=step.now)
        step.write(lambda session: insert_row(session, row))
        step.audit("attachment.added", actor=actor.username,
                   after={"task": str(task.id), "file": row.filename, "sha256": digest, "size": row.size})
        return row

    return _attachment_view(steps.on_task(ctx, parse_id(task_id, "task"), act))


def _attachment_view(row: Attachment) -> AttachmentView:
    return AttachmentView(row.id, str(row.task_id) if row.task_id else None, row.filename, row.content_type, row.size,
                          row.sha256, row.uploaded_by, row.at)


def list_attachments(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor) -> list[AttachmentView]:
    require_any_role(actor)
    with unit_of_work(ctx.sessions, write=False) as session:
        task = _visible_task(session, parse_id(task_id, "task"), actor)
        rows = session.scalars(select(Attachment).where(Attachment.instance_id == task.instance_id)
                               .order_by(Attachment.at, Attachment.id))
        return [_attachment_view(r) for r in rows]


def read_attachment(ctx: EngineContext, attachment_id: int, *, actor: Actor) -> tuple[AttachmentView, bytes]:
    """The file and its metadata, for someone who may see one of the instance's tasks (or a supervisor)."""
    require_any_role(actor)
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.get(Attachment, attachment_id)
        if row is None:
            raise AttachmentNotFoundError(f"no attachment {attachment_id}")
        tasks = session.scalars(select(HumanTask).where(HumanTask.instance_id == row.instance_id)).all()
        if not (actor.is_supervisor or any(lifecycle.can_see(actor, t) for t in tasks)):
            raise PermissionDeniedError("this attachment is not yours to see")
        view = _attachment_view(row)
    path = ctx.settings.uploads.dir / view.sha256[:2] / view.sha256
    content = path.read_bytes()
    if hashlib.sha256(content).hexdigest() != view.sha256:
        raise AttachmentNotFoundError(f"attachment {attachment_id} is damaged in the file store")
    return view, content
