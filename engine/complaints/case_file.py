"""A complaint's whole case file for the complaints desk's case page (web.complaints.desk), read and audited the way
engine.services.case_file reads a task's."""

from __future__ import annotations

from engine import authz
from engine.casefile.model import Reading
from engine.complaints.records import PROCESS_KEY, load_case
from engine.context import EngineContext
from engine.db.session import unit_of_work
from engine.errors import ComplaintNotFoundError
from engine.runtime import instance as runtime
from engine.runtime import rows
from engine.services.authz import require_any_role
from engine.services.case_file import CaseFile, audit_shown, read_retried, sections_of
from engine.views import Actor

# The complaints desk's case page: the whole file of one case, printable for the archive.
COMPLAINT_FILE = ("complaint_case", "complaint_timeline", "earlier_decisions")


def get_complaint_file(ctx: EngineContext, case_no: str, *, actor: Actor) -> CaseFile:
    """A complaint's whole file for the staff case page (purpose ``complaint:<case no>``): the case, its timeline in
    words, and every submission on its tasks. Audited like a task's case file. Raises ComplaintNotFoundError,
    PermissionDeniedError (no read grant on complaints)."""
    require_any_role(actor)
    authz.require(ctx, actor, "read", "process", PROCESS_KEY)
    return read_retried(lambda: _complaint_file(ctx, case_no, actor))


def _complaint_file(ctx: EngineContext, case_no: str, actor: Actor) -> CaseFile:
    with unit_of_work(ctx.sessions) as session:
        case = load_case(session, case_no)
        instance = rows.instance_row(session, case.instance_id) if case is not None and case.instance_id else None
        if case is None or instance is None:
            raise ComplaintNotFoundError(f"no complaint {case_no}")
        bundle = runtime.load_bundle(ctx, session, instance.definition_id)
        reading = Reading(ctx, session, actor, None, instance, bundle, f"complaint:{case_no}")
        sections = sections_of(reading, COMPLAINT_FILE)
        audit_shown(reading, [s.name for s in sections if not s.withheld])
        return CaseFile(tuple(sections))
