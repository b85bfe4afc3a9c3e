"""The deploy confirmation: diff against the live version, live instances, migration dry run, maker-checker, and a
token that a changed diagram, draft or live version makes stale."""

from __future__ import annotations

import pytest

from engine.context import EngineContext
from engine.errors import InvalidDefinitionError, PermissionDeniedError
from engine.services import deploy_preview, designer, instances
from engine.views import SYSTEM, Actor
from tests.support.bpmn import definitions as bpmn
from tests.support.bpmn import end, flow, start, user_task
from tests.support.engine import CHECKER, DESIGNER, deploy

V1 = bpmn("preview_demo", [start(), user_task("check"), end()], [flow("start", "check"), flow("check", "end")])
V2 = bpmn("preview_demo", [start(), user_task("check"), user_task("sign"), end()],
          [flow("start", "check"), flow("check", "sign"), flow("sign", "end")])
V3 = bpmn("preview_demo", [start(), user_task("review"), end()], [flow("start", "review"), flow("review", "end")])


def test_first_version_needs_no_approval_and_deploys_with_its_token(ctx: EngineContext) -> None:
    preview = deploy_preview.preview_deploy(ctx, xml=V1.decode(), actor=DESIGNER)
    assert (preview.live_version, preview.next_version, preview.diff, preview.live_instances) == (None, 1, None, 0)
    assert not preview.needs_approval
    result = deploy_preview.deploy_confirmed(ctx, xml=V1.decode(), actor=DESIGNER, confirmation=preview.confirmation)
    assert result is not None and result.created and result.definition.version == 1


def test_summary_of_a_new_version_over_live_instances(ctx: EngineContext) -> None:
    deploy(ctx, ("preview_demo.bpmn", V1))
    for _ in range(2):
        instances.start_instance(ctx, process_key="preview_demo", actor=SYSTEM)
    preview = deploy_preview.preview_deploy(ctx, xml=V2.decode(), actor=DESIGNER)
    assert (preview.live_version, preview.next_version, preview.live_instances, preview.live_on_live_version) == \
        (1, 2, 2, 2)
    assert preview.diff is not None and [c.element_id for c in preview.diff.added if c.element_id == "sign"] == ["sign"]
    assert preview.migratable == 2 and all(m.compatible for m in preview.migration)
    assert preview.needs_approval

    blocked = deploy_preview.preview_deploy(ctx, xml=V3.decode(), actor=DESIGNER)
    assert blocked.migratable == 0 and len(blocked.migration) == 2
    assert all(not m.tasks[0].maps and m.tasks[0].element_id == "check" for m in blocked.migration)

    result = deploy_preview.deploy_confirmed(ctx, xml=V2.decode(), actor=DESIGNER, confirmation=preview.confirmation)
    assert result is not None and result.approval_id is not None and not result.created


def test_a_stale_confirmation_is_refused(ctx: EngineContext) -> None:
    deploy(ctx, ("preview_demo.bpmn", V1))
    preview = deploy_preview.preview_deploy(ctx, xml=V2.decode(), actor=DESIGNER)
    with pytest.raises(deploy_preview.StaleConfirmationError):  # the diagram changed after the summary
        deploy_preview.deploy_confirmed(ctx, xml=V3.decode(), actor=DESIGNER, confirmation=preview.confirmation)
    designer.save_draft(ctx, kind="process", name="preview_demo", content=V2.decode(), actor=CHECKER)
    with pytest.raises(deploy_preview.StaleConfirmationError):  # someone saved the draft since
        deploy_preview.deploy_confirmed(ctx, xml=V2.decode(), actor=DESIGNER, confirmation=preview.confirmation)
    fresh = deploy_preview.preview_deploy(ctx, xml=V2.decode(), actor=DESIGNER)
    deploy(ctx, ("preview_demo.bpmn", V3))  # another version went live
    with pytest.raises(deploy_preview.StaleConfirmationError):
        deploy_preview.deploy_confirmed(ctx, xml=V2.decode(), actor=DESIGNER, confirmation=fresh.confirmation)


def test_refusals(ctx: EngineContext) -> None:
    with pytest.raises(PermissionDeniedError):
        deploy_preview.preview_deploy(ctx, xml=V1.decode(), actor=Actor("sam", frozenset({"supervisor"})))
    with pytest.raises(InvalidDefinitionError):
        deploy_preview.preview_deploy(ctx, xml="<bpmn/>", actor=DESIGNER)
