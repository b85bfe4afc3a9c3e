"""The OpenAPI document of /api/v1, built with apispec from the registered routes and the marshmallow schemas.

Paths, methods and path-parameter types come from the Flask ``url_map`` (the real routes); what each
operation takes and returns is described in :data:`OPERATIONS`, keyed by endpoint name. A route
without an entry there is left out of the document, and ``tests/web/test_openapi.py`` fails on it.
Request bodies are the schemas the views load (``web/api/schemas.py``); response schemas are derived
from the engine view dataclasses the views render (documentation only: nothing is dumped through them).
Served at ``GET /api/v1/openapi.json`` without a token, built once per app (:func:`spec_for`).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, current_app, jsonify
from marshmallow import Schema, fields
from werkzeug.routing import Rule

from engine.bpmn.xmldiff import BpmnDiff
from engine.complaints.service import ComplaintView
from engine.customers.customer360 import MAX_LIMIT as CUSTOMER_LIMIT
from engine.customers.customer360 import Customer360, CustomerPage
from engine.customers.service import TIERS
from engine.services.approvals import ApprovalView
from engine.services.catalogue import HandlerEntry
from engine.services.deploy_preview import DeployPreview
from engine.services.designer import ActivityStat, DraftView, FormEntry, InstancePath
from engine.services.grants import GrantView
from engine.services.migration import MigrationReport
from engine.services.notifications import MAX_LIMIT as NOTIFICATION_LIMIT
from engine.services.notifications import NotificationPage
from engine.services.outbox import STATUSES as OUTBOX_STATUSES
from engine.services.search import MAX_LIMIT as SEARCH_LIMIT
from engine.services.search import MAX_QUERY as SEARCH_QUERY
from engine.services.search import SearchResults
from engine.services.task_queries import SORTS, VIEWS
from engine.services.tasks import MAX_LIMIT
from engine.services.trial_run import TrialRun
from engine.views import AttachmentView, CommentView, DefinitionView, InstanceView, OutboxView, TaskView
from engine.views import MessageResult as MessageResultView
from engine.views import TaskPage as TaskPageView
from web.api import INT32_MAX, INT64_MAX, schemas
from web.api import bp as api_bp
from web.api import designer as designer_api
from web.api import governance as governance_api
from web.api import worklist as worklist_api
from web.complaints import acts_api as complaint_acts_api
from web.complaints import api as complaint_api

OPENAPI_VERSION = "3.0.3"
API_PREFIX = "/api/v1"
CACHE_KEY = "careflow.openapi"


# --- response schemas ----------------------------------------------------------------------------------------------
# The views render engine view dataclasses with ``to_json`` (every field, datetimes as ISO strings), so the response
# schemas are derived from those dataclasses: a field added to a view is documented without further work.

UUID_FIELDS = {"id", "instance_id"}  # str fields of the views that hold UUIDs (except OutboxView.id, an int)
# ids that are not UUIDs (customer numbers)
NOT_UUID_IDS = frozenset({"OutboxView", "Customer360", "CustomerListItem", "CustomerHit"})


def _field(hint: Any, name: str, owner: str) -> fields.Field:
    """A marshmallow field for one annotated dataclass field (``X | None`` → nullable)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    nullable = typing.get_origin(hint) in (types.UnionType, typing.Union) and len(args) < len(typing.get_args(hint))
    if nullable and len(args) == 1:
        hint = args[0]
    options: dict[str, Any] = {"required": True, "allow_none": nullable}
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        item = typing.get_args(hint)[0] if typing.get_args(hint) else Any
        return fields.List(_field(item, name, owner), **options)
    if origin is dict or hint is dict:
        return fields.Dict(keys=fields.String(), **options)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return fields.Nested(view_schema(hint), **options)
    if hint is str and name in UUID_FIELDS and owner not in NOT_UUID_IDS:
        return fields.UUID(**options)
    simple: dict[Any, type[fields.Field]] = {str: fields.String, int: fields.Integer, bool: fields.Boolean,
                                             float: fields.Float, datetime: fields.DateTime}
    return simple.get(hint, fields.Raw)(**options)


@functools.cache
def view_schema(view: type) -> type[Schema]:
    """The marshmallow schema of an engine view dataclass as the API renders it (named after the view)."""
    hints = typing.get_type_hints(view)
    declared = {f.name: _field(hints[f.name], f.name, view.__name__) for f in dataclasses.fields(view)}
    return Schema.from_dict(declared, name=view.__name__.removesuffix("View") or view.__name__)


class ErrorBody(Schema):
    code = fields.String(required=True, metadata={"description": "stable, machine-readable error code"})
    message = fields.String(required=True, metadata={"description": "for people"})
    details = fields.Dict(keys=fields.String(), required=True,
                          metadata={"description": "structured details, e.g. `fields` or `problems`"})


class Error(Schema):
    error = fields.Nested(ErrorBody, required=True)


class DeployResult(Schema):
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    created = fields.Boolean(required=True, metadata={"description": "false when identical bytes were already the latest"})
    approval_id = fields.Integer(metadata={"description": "set when the version waits for a second person's approval"})
    status = fields.String(metadata={"description": "`awaiting_approval` while it waits"})


class ValidationResult(Schema):
    valid = fields.Boolean(required=True)
    problems = fields.List(fields.Dict(keys=fields.String()), metadata={
        "description": "the modeler's validate call: warnings that do not block a deploy, each "
                       "{file, line, element_id, message, severity, code}"})


class InstanceCreated(Schema):
    id = fields.UUID(required=True)
    status = fields.String(required=True)
    error = fields.Dict(keys=fields.String(), required=True, allow_none=True)


def _items(view: type, name: str) -> type[Schema]:
    return Schema.from_dict({"items": fields.List(fields.Nested(view_schema(view)), required=True)}, name=name)


Definition, Instance, Task, TaskPage = (view_schema(v) for v in (DefinitionView, InstanceView, TaskView, TaskPageView))
MessageResult, OutboxMessage = view_schema(MessageResultView), view_schema(OutboxView)
DefinitionList, OutboxList = _items(DefinitionView, "DefinitionList"), _items(OutboxView, "OutboxList")
Comment, Attachment = view_schema(CommentView), view_schema(AttachmentView)
CommentList, AttachmentList = _items(CommentView, "CommentList"), _items(AttachmentView, "AttachmentList")


class Deleted(Schema):
    deleted = fields.Boolean(required=True)


class ImportResult(Schema):
    key = fields.String()
    version = fields.Integer()
    created = fields.Boolean()
    valid = fields.Boolean()
    mapped = fields.List(fields.String(), required=True,
                         metadata={"description": "foreign extensions turned into CareFlow properties"})
    ignored = fields.List(fields.Dict(), metadata={
        "description": "other modelers' metadata CareFlow does not use, kept in the file: "
                       "`{file, line, element_id, message}`"})
    dropped = fields.List(fields.Dict(), metadata={
        "description": "processes not run (pools not chosen, processes in no pool) and what is wrong inside them"})


class DraftRef(Schema):
    kind = fields.String(required=True)
    name = fields.String(required=True)
    revision = fields.Integer(required=True)


class DraftImportResult(Schema):
    draft = fields.Nested(DraftRef, required=True)
    process_key = fields.String(allow_none=True, required=True, metadata={"description": "the pool chosen to run"})
    was_executable = fields.Boolean(required=True, metadata={"description": "its isExecutable before the import"})
    candidates = fields.List(fields.String(), required=True)
    ambiguous = fields.Boolean(required=True)
    deployable = fields.Boolean(required=True)
    mapped = fields.List(fields.String(), required=True)
    ignored = fields.List(fields.Dict(), required=True)
    must_fix = fields.List(fields.Dict(), required=True, metadata={
        "description": "what stops a deploy: `{file, line, element_id, message}`"})
    dropped = fields.List(fields.Dict(), required=True, metadata={
        "description": "processes not run (pools not chosen, processes in no pool) and what is wrong inside them: "
                       "listed, never must-fix"})


class BulkResult(Schema):
    results = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                          metadata={"description": "task id → `ok` or the error code for that task"})


# --- operations --------------------------------------------------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"in": "query", "name": name, "required": False, "schema": schema, "description": description}


LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}


@dataclass(frozen=True)
class Operation:
    """What one endpoint takes and returns; the path and method come from its Flask rule."""

    summary: str
    tag: str
    responses: dict[int, tuple[str, Any]]  # status → (description, schema class/reference or None)
    errors: tuple[int, ...]
    body: type[Schema] | None = None
    body_required: bool = True
    multipart: dict[str, Any] | None = None
    query: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""


TASK_ERRORS = (400, 401, 403, 404, 409)
REPORT = {"type": "object", "required": ["tables"], "properties": {
    "tables": {"type": "object", "additionalProperties": {"type": "object", "properties": {
        "columns": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": {"type": "array", "items": {}}}}}}}}
REPORT_QUERY = [_query("start", {"type": "string", "format": "date"}, "first bank-local day (default: 29 days before end)"),
                _query("end", {"type": "string", "format": "date"}, "last bank-local day (default: today)")]

OPERATIONS: dict[str, Operation] = {
    "api.deploy": Operation(
        "Deploy a bundle of BPMN/DMN/form files as the next version of its process", "definitions",
        {201: ("deployed as a new version", DeployResult),
         200: ("identical to the latest version (nothing stored), or valid with `validate_only`",
               {"oneOf": [_ref("DeployResult"), _ref("ValidationResult")]}),
         202: ("the process has live instances: the version waits for a second person's approval", DeployResult)},
        (400, 401, 403, 409, 422), body=schemas.Deploy,
        multipart={"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "one or more files (any field names)"},
            "process_key": {"type": "string", "description": "the process to deploy when a file has several"}}},
        query=[_query("validate_only", {"type": "string", "enum": ["1", "true", "0", "false"]},
                      "`1`/`true`: only validate, store nothing")],
        description="Designers. An invalid bundle is a 422 with `details.problems: [{file, line, element_id, message}]`.",
    ),
    "api.list_definitions": Operation(
        "The latest version of every deployed process", "definitions", {200: ("the definitions", DefinitionList)}, (401,),
    ),
    "api.get_definition": Operation(
        "One process definition (the latest version unless `version` is given)", "definitions",
        {200: ("the definition", Definition)}, (401, 404),
        query=[_query("version", {"type": "integer", "minimum": 1, "maximum": INT32_MAX}, "a version number")],
    ),
    # --- the process designer (web/api/designer.py): designers change, supervisors may look --------------------
    "api.list_drafts": Operation(
        "Saved drafts of diagrams and forms (designers, supervisors)", "designer",
        {200: ("the drafts", _items(DraftView, "DraftList"))}, (400, 401, 403),
        query=[_query("kind", {"type": "string", "enum": ["process", "form"]}, "only drafts of this kind")],
    ),
    "api.get_draft": Operation("One draft", "designer", {200: ("the draft", view_schema(DraftView))}, (401, 403, 404)),
    "api.save_draft": Operation(
        "Create or replace a draft; `revision` (optional) must be the stored one", "designer",
        {200: ("saved", view_schema(DraftView))}, (400, 401, 403, 409), body=designer_api.SaveDraft,
    ),
    "api.delete_draft": Operation("Drop a draft", "designer", {200: ("dropped", Deleted)}, (401, 403, 404)),
    "api.deploy_from_modeler": Operation(
        "Validate and deploy a diagram from the modeler as the next version (with the forms it names)", "designer",
        {201: ("deployed as a new version", DeployResult),
         200: ("identical to the latest version, or valid with `validate_only`",
               {"oneOf": [_ref("DeployResult"), _ref("ValidationResult")]})},
        (400, 401, 403, 409, 422), body=designer_api.ModelerDeploy,
        query=[_query("validate_only", {"type": "string", "enum": ["1", "true", "0", "false"]}, "only validate")],
        description="Designers. Problems are a 422 with `details.problems: [{file, line, element_id, message, severity, "
                    "code}]` (errors, and the warnings that come with them, in the caller's language); a valid diagram "
                    "with `validate_only` lists its warnings in `problems`. The modeler calls this as the designer "
                    "edits.",
    ),
    "api.preview_deploy": Operation(
        "What deploying this diagram would do: diff against the live version, live instances, a migration dry run, "
        "whether a second person must approve, and the confirmation token to deploy with", "designer",
        {200: ("the summary", view_schema(DeployPreview))}, (400, 401, 403, 422), body=designer_api.PreviewDeploy,
        description="Send `confirmation` back with POST /designer/deploy; a stale one (the diagram, its draft or the "
                    "live version changed) is a 409 `confirmation_stale`.",
    ),
    "api.trial_run_draft": Operation(
        "Run a draft against sample data in a throw-away database: the path taken, the data at the end, any error "
        "with its element (nothing is kept)", "designer",
        {200: ("the run", view_schema(TrialRun))}, (400, 401, 403, 422), body=designer_api.TrialRunInput,
    ),
    "api.list_handlers": Operation(
        "The service handlers a designer may use, with description, parameters and the processes allowed to call "
        "them", "designer", {200: ("the catalogue", _items(HandlerEntry, "HandlerCatalogue"))}, (400, 401, 403),
        query=[_query("process", {"type": "string", "maxLength": 128}, "mark which this process may call")],
    ),
    "api.suspend_version": Operation(
        "Suspend a version: it starts no new instances, the running ones go on (designers)", "designer",
        {200: ("the version with its status", Definition)}, (401, 403, 404),
    ),
    "api.retire_version": Operation(
        "Retire a version: no new instances and hidden from start lists; refused while it has live instances",
        "designer", {200: ("the version with its status", Definition)}, (401, 403, 404, 409),
    ),
    "api.resume_version": Operation(
        "Resume a suspended or retired version (designers)", "designer",
        {200: ("the version with its status", Definition)}, (401, 403, 404),
    ),
    "api.import_definition": Operation(
        "Import a BPMN file from another modeler (Camunda, Zeebe, Signavio…): map what CareFlow has an equivalent "
        "for and deploy, or list what it cannot run", "designer",
        {201: ("imported and deployed, or (as_draft) opened as a draft",
               {"oneOf": [_ref("ImportResult"), _ref("DraftImportResult")]}),
         200: ("identical to the latest version, or valid", ImportResult)},
        (400, 401, 403, 409, 422), body=designer_api.ImportFile,
        multipart={"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "the BPMN file first, then forms/DMN"}}},
        query=[_query("validate_only", {"type": "string", "enum": ["1", "true", "0", "false"]}, "only validate"),
               _query("as_draft", {"type": "string", "enum": ["1", "true", "0", "false"]},
                      "open any well-formed BPMN 2.0 file as a draft, with what to fix before it deploys"),
               _query("process", {"type": "string", "maxLength": 200}, "the pool (process id) to run")],
        description="Designers. Other modelers' metadata is ignored and listed (`ignored`), kept in the stored file; "
                    "what CareFlow cannot run is a 422 (or, as a draft, `must_fix`). docs/interchange.md.",
    ),
    "api.list_forms": Operation("Forms a diagram may name (drafts and deployed)", "designer",
                                {200: ("the forms", _items(FormEntry, "FormList"))}, (401, 403)),
    "api.get_form": Operation("A form's form-js schema (its draft if any)", "designer",
                              {200: ("the schema", {"type": "object"})}, (401, 403, 404)),
    "api.list_versions": Operation("Every version of a process with its instance count, newest first", "designer",
                                   {200: ("the versions", DefinitionList)}, (401, 403, 404)),
    "api.download_xml": Operation(
        "The BPMN XML of a version, as a download", "designer",
        {200: ("the BPMN file", {"type": "string", "format": "binary"})}, (401, 403, 404),
    ),
    "api.diff_versions": Operation(
        "Elements added, removed and changed between two versions", "designer",
        {200: ("the differences", view_schema(BpmnDiff))}, (400, 401, 403, 404),
        query=[_query("from", {"type": "integer", "minimum": 1, "maximum": INT32_MAX}, "the older version"),
               _query("to", {"type": "integer", "minimum": 1, "maximum": INT32_MAX}, "the newer version")],
    ),
    "api.heatmap": Operation(
        "Per BPMN element of a version, from the activity history: entered, active, completed, cancelled, failed, "
        "mean and 90th-percentile duration in seconds (designers, supervisors)", "designer",
        {200: ("the statistics", _items(ActivityStat, "Heatmap"))}, (400, 401, 403, 404),
        query=[_query("version", {"oneOf": [{"type": "integer", "minimum": 1, "maximum": INT32_MAX},
                                            {"type": "string", "enum": ["all"]}]}, "default: the latest; all: every version"),
               _query("from", {"type": "string", "format": "date"}, "first day entered (bank's zone)"),
               _query("to", {"type": "string", "format": "date"}, "last day entered (bank's zone), included")],
    ),
    "api.plan_migration": Operation(
        "Dry run: which running instances and tasks map onto a version, and which cannot (changes nothing)",
        "designer", {200: ("the report", view_schema(MigrationReport))}, (400, 401, 403, 404),
        body=designer_api.Migrate, body_required=False,
    ),
    "api.migrate_instances": Operation(
        "Migrate every compatible running instance onto a version, each atomically and audited (designers)",
        "designer", {200: ("what was migrated and what was left untouched", view_schema(MigrationReport)),
                     202: ("the dry run, waiting for a second person's approval (`approval_id`)",
                           view_schema(MigrationReport))},
        (400, 401, 403, 404), body=designer_api.Migrate, body_required=False,
    ),
    "api.instance_path": Operation(
        "Where an instance waits now and which elements it passed (designers, supervisors)", "designer",
        {200: ("the path", view_schema(InstancePath))}, (400, 401, 403, 404),
    ),
    "api.start_instance": Operation(
        "Start a process instance and run it to its first wait state", "instances",
        {201: ("started (status `error` when its first step failed)", InstanceCreated)},
        (400, 401, 403, 404, 409), body=schemas.StartInstance,
    ),
    "api.get_instance": Operation(
        "An instance with its open tasks, timers and history", "instances", {200: ("the instance", Instance)},
        (400, 401, 403, 404),
    ),
    "api.cancel_instance": Operation(
        "Cancel a running or failed instance (supervisors)", "instances", {200: ("cancelled", Instance)},
        (400, 401, 403, 404, 409), body=schemas.Cancel, body_required=False,
    ),
    "api.retry_instance": Operation(
        "Re-run the failed steps of an instance in `error`, optionally with corrected data (supervisors)", "instances",
        {200: ("retried; still `error` if the step failed again", Instance)}, (400, 401, 403, 404, 409),
        body=schemas.Retry, body_required=False,
    ),
    "api.list_tasks": Operation(
        "A page of tasks, keyset-paginated", "tasks", {200: ("a page of tasks", TaskPage)}, (400, 401, 403),
        query=[
            _query("view", {"type": "string", "enum": list(VIEWS), "default": "mine"},
                   "`mine` (claimed by me), `queue` (claimable by my groups), `archive` (completed by me), "
                   "`all` (every open task; supervisors)"),
            _query("process", {"type": "string"}, "only tasks of this process key"),
            _query("customer", {"type": "string"}, "only tasks about this customer id"),
            _query("overdue", {"type": "string", "enum": ["1", "true", "0", "false"]}, "only (not) overdue tasks"),
            _query("q", {"type": "string"}, "text in the title or task name"),
            _query("priority_min", {"type": "integer", "minimum": 0, "maximum": 100}, "only priority at least this"),
            _query("due_before", {"type": "string", "format": "date-time"},
                   "only tasks due at or before this time (RFC 3339, with its offset)"),
            _query("follow_up_before", {"type": "string", "format": "date-time"},
                   "only tasks whose follow-up date is at or before this time (RFC 3339, with its offset)"),
            _query("sort", {"type": "string", "enum": list(SORTS), "default": "created"},
                   "`created` (oldest first), `due` (earliest due first, none last), `priority` (highest first, "
                   "then oldest); the archive is always newest completion first"),
            _query("count", {"type": "string", "enum": ["1", "true", "0", "false"]},
                   "also count the tasks of all pages (`count`, at most 1000; `count_capped` when there are more)"),
            _query("limit", LIMIT, "page size"),
            _query("cursor", {"type": "string"}, "`next_cursor` of the previous page (same view, filters and sort)"),
        ],
    ),
    "api.get_task": Operation(
        "One task with its form and, while open, its data", "tasks", {200: ("the task", Task)}, (400, 401, 403, 404),
    ),
    "api.claim": Operation("Claim an open task", "tasks", {200: ("claimed", Task)}, TASK_ERRORS),
    "api.unclaim": Operation("Put a claimed task back in its queue", "tasks", {200: ("open again", Task)}, TASK_ERRORS),
    "api.assign": Operation(
        "Give a task to a user (supervisors)", "tasks", {200: ("assigned", Task)}, TASK_ERRORS, body=schemas.Assign,
    ),
    "api.complete": Operation(
        "Submit the task's form and run the process on", "tasks", {200: ("completed", Task)}, (*TASK_ERRORS, 422),
        body=schemas.Complete, body_required=False,
        description="Form errors are a 422 with `details.fields: {field: [messages]}`.",
    ),
    "api.update_task": Operation(
        "Change a task's priority, due or follow-up date (the assignee or a supervisor)", "tasks",
        {200: ("updated", Task)}, TASK_ERRORS, body=schemas.UpdateTask,
    ),
    "api.delegate": Operation(
        "Lend a claimed task to a colleague; it comes back on resolve", "tasks", {200: ("delegated", Task)},
        TASK_ERRORS, body=schemas.Delegate,
    ),
    "api.resolve": Operation("Hand a delegated task back to its owner", "tasks", {200: ("back with the owner", Task)},
                             TASK_ERRORS),
    "api.pause_sla": Operation("Stop the task's SLA clock (audited reason)", "tasks", {200: ("paused", Task)},
                               TASK_ERRORS, body=schemas.PauseSla),
    "api.resume_sla": Operation("Restart the SLA clock; the due time moves by the pause", "tasks",
                                {200: ("running again", Task)}, TASK_ERRORS),
    "api.list_comments": Operation("Comments on the task's instance, oldest first", "tasks",
                                   {200: ("the comments", CommentList)}, (400, 401, 403, 404)),
    "api.add_comment": Operation("Add a comment", "tasks", {201: ("added", Comment)}, (400, 401, 403, 404),
                                 body=schemas.NewComment),
    "api.list_attachments": Operation("Files on the task's instance", "tasks", {200: ("the files", AttachmentList)},
                                      (400, 401, 403, 404)),
    "api.add_attachment": Operation(
        "Upload a file (PDF, PNG, JPEG, DOCX, XLSX or UTF-8 text; ≤ 10 MB)", "tasks", {201: ("stored", Attachment)},
        (400, 401, 403, 404),
        multipart={"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "the file"}}},
    ),
    "api.get_attachment": Operation(
        "Download a file", "tasks", {200: ("the file, as an attachment", {"type": "string", "format": "binary"})},
        (401, 403, 404),
    ),
    "api.bulk": Operation("Claim or assign many tasks (supervisors)", "tasks", {200: ("one result per task", BulkResult)},
                          (400, 401, 403), body=schemas.Bulk),
    "api.deliver_message": Operation(
        "Deliver a message to the one instance waiting for it", "messages",
        {202: ("delivered (or, for a repeated message_id, the first result)", MessageResult)},
        (400, 401, 403, 409), body=schemas.Message,
    ),
    "api.list_outbox": Operation(
        "Outgoing messages in one status, newest first (supervisors)", "outbox", {200: ("the messages", OutboxList)},
        (400, 401, 403),
        query=[
            _query("status", {"type": "string", "enum": list(OUTBOX_STATUSES), "default": "dead"}, "message status"),
            _query("limit", LIMIT, "page size"),
            _query("before_id", {"type": "integer", "format": "int64", "minimum": 1, "maximum": INT64_MAX},
                   "only messages with a smaller id (the last id of the previous page)"),
        ],
    ),
    "api.retry_outbox": Operation(
        "Put a dead letter back in the queue (supervisors)", "outbox", {200: ("pending again", OutboxMessage)},
        (401, 403, 404, 409),
    ),
    "api.list_customers": Operation(
        "A page of customers by id, masked (staff and supervisors)", "customers",
        {200: ("a page of customers", view_schema(CustomerPage))}, (400, 401, 403),
        query=[
            _query("q", {"type": "string"}, "exact phone or ID number (through the lookup index), customer id, or name prefix"),
            _query("tier", {"type": "string", "enum": list(TIERS)}, "only this tier"),
            _query("manager", {"type": "string"}, "only this customer manager's customers"),
            _query("branch", {"type": "string"}, "only this branch"),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": CUSTOMER_LIMIT, "default": 25}, "page size"),
            _query("cursor", {"type": "string"}, "`next_cursor` of the previous page"),
        ],
        description="Money is a string with two decimals; names and phones are masked for every caller.",
    ),
    "api.get_customer": Operation(
        "Customer 360: profile, accounts, AUM, products, tier history, risk, consents and a timeline page", "customers",
        {200: ("the customer", view_schema(Customer360))}, (400, 401, 403, 404),
        query=[
            _query("timeline_limit", {"type": "integer", "minimum": 1, "maximum": CUSTOMER_LIMIT, "default": 20},
                   "timeline page size"),
            _query("timeline_cursor", {"type": "string"}, "`timeline.next_cursor` of the previous page"),
        ],
        description="Phone and e-mail are masked; the ID number shows its last four characters only. The customer's "
                    "manager and supervisors see the full name.",
    ),
    "api.search": Operation(
        "Global search: cases, customers, tasks and instances the caller may see", "search",
        {200: ("results of each kind, at most `limit` each", view_schema(SearchResults))}, (400, 401, 403),
        query=[
            {**_query("q", {"type": "string", "minLength": 1, "maxLength": SEARCH_QUERY},
                      "a case number, customer id, exact phone or ID number, business key, task or instance id, or "
                      "two or more characters of a customer's name or of a complaint's text"), "required": True},
            _query("limit", {"type": "integer", "minimum": 1, "maximum": SEARCH_LIMIT, "default": 10},
                   "results of each kind"),
        ],
        description="Customers within the caller's customer grant, cases for readers of complaint_handling, tasks "
                    "as the inbox shows them, instances the caller may read. Names and phones are masked. Each call "
                    "is audited (`search.performed`, without the query).",
    ),
    "api.submit_complaint": Operation(
        "File a complaint from a channel (app, WeChat: HMAC-signed) or from staff (phone, branch)", "complaints",
        {201: ("a new case", complaint_api.ComplaintCreated),
         200: ("the same message_id again, or a repeat merged into the open case", complaint_api.ComplaintCreated)},
        (401, 403, 409, 422, 429), body=complaint_api.NewComplaint,
        description="Channels send `X-CareFlow-Channel`, `X-CareFlow-Timestamp` (Unix seconds, at most 60 s old and "
                    "30 s ahead) and `X-CareFlow-Signature` = hex HMAC-SHA256 of `<timestamp>.<raw body>` with one of "
                    "the channel's active secrets (`careflow intake secret add`, `CAREFLOW_INTAKE_SECRETS`), and a "
                    "`message_id`; staff send their token and the `channel`. The same signed request again is a 409 "
                    "(`replayed_request`, not counted against the rate limit). Bad data is a 422 with "
                    "`details.fields`; too many calls a 429 with `Retry-After`.",
    ),
    "api.get_complaint": Operation(
        "A complaint case with its deadlines, answer, rating and events (staff)", "complaints",
        {200: ("the case", view_schema(ComplaintView))}, (401, 403, 404),
        description="The complainant's name and phone are masked; dates are ISO days, the amount a decimal string.",
    ),
    "api.record_customer_act": Operation(
        "Record a complainant's withdrawal, rating or review request received by phone, letter or at the counter",
        "complaints", {200: ("the case after the act", view_schema(ComplaintView))}, (400, 401, 403, 404, 409, 422),
        body=complaint_acts_api.CustomerAct,
        description="Staff only, with the evidence (recording id, letter or slip number); the case shows who recorded "
                    "it. Customers act themselves in the portal.",
    ),
    # --- grants and approvals (web/api/governance.py) --------------------------------------------------------------
    "api.list_grants": Operation(
        "Every grant: principal, resource, permission (administrators)", "governance",
        {200: ("the grants", _items(GrantView, "GrantList"))}, (401, 403),
    ),
    "api.request_grant": Operation(
        "Ask for a grant; it counts once a second administrator approves it", "governance",
        {202: ("the approval request", view_schema(ApprovalView))}, (400, 401, 403, 422), body=governance_api.NewGrant,
    ),
    "api.revoke_grant": Operation(
        "Revoke a grant at once (administrators)", "governance", {200: ("the revoked grant", view_schema(GrantView))},
        (401, 403, 404),
    ),
    "api.list_approvals": Operation(
        "Changes waiting for a second person (or decided): those you asked for or may decide", "governance",
        {200: ("the requests", _items(ApprovalView, "ApprovalList"))}, (401,),
        query=[_query("status", {"type": "string", "enum": [*governance_api.STATUSES, "all"], "default": "pending"},
                      "which requests")],
    ),
    "api.get_approval": Operation(
        "One approval request", "governance", {200: ("the request", view_schema(ApprovalView))}, (401, 404),
    ),
    "api.approve": Operation(
        "Approve a request (not your own) and carry the change out", "governance",
        {200: ("approved, with the result", view_schema(ApprovalView))}, (401, 403, 404, 409, 422),
    ),
    "api.reject": Operation(
        "Reject a request, with the reason", "governance", {200: ("rejected", view_schema(ApprovalView))},
        (400, 401, 403, 404, 409), body=governance_api.Rejection,
    ),
    # --- the work surface (web/api/worklist.py) ---------------------------------------------------------------
    "api.claim_next": Operation(
        "Claim the best next task of your queue (highest priority, earliest due, oldest)", "tasks",
        {200: ("claimed", Task), 204: ("your queue is empty", None)}, (401, 403),
    ),
    "api.list_notifications": Operation(
        "Your notifications, newest first, with the number unread", "notifications",
        {200: ("the notifications", view_schema(NotificationPage))}, (400, 401, 403),
        query=[_query("unread", {"type": "string", "enum": ["1", "true", "0", "false"]}, "only unread ones"),
               _query("limit", {"type": "integer", "minimum": 1, "maximum": NOTIFICATION_LIMIT, "default": 20},
                      "how many")],
    ),
    "api.read_notifications": Operation(
        "Mark your notifications read (these ids, one task's, or all)", "notifications",
        {200: ("marked", worklist_api.ReadResult)}, (400, 401, 403), body=worklist_api.MarkRead, body_required=False,
    ),
    # --- reports (web/reporting/pages.py) ------------------------------------------------------------------------------
    "api.api_dashboard": Operation(
        "Every dashboard table for a period and filters (staff: their own portfolio; supervisors: all)", "reports",
        {200: ("the tables", REPORT)}, (400, 401, 403), query=REPORT_QUERY + [
            _query("branch", {"type": "string"}, "customers of this branch (supervisors)"),
            _query("team", {"type": "string"}, "this group's members: their customers and their work (supervisors)"),
            _query("manager", {"type": "string"}, "this customer manager's customers and work (supervisors)"),
            _query("tier", {"type": "string", "enum": list(TIERS)}, "customers of this tier"),
        ],
        description="Tables: work, complaints_by_channel/business_type/cause, complaint_timeliness, satisfaction, "
                    "complaint_steps, cross_sell_funnel, revisits, care, scorecards. Rates are decimal strings "
                    "(4 places), money strings with 2; definitions in engine/reporting/kpis.py.",
    ),
    "api.api_process_analytics": Operation(
        "Process analytics: instances and cycle-time percentiles per version; time per activity and waits of one "
        "version (designers, supervisors)", "reports",
        {200: ("the tables", REPORT)}, (400, 401, 403, 404), query=REPORT_QUERY + [
            _query("version", {"type": "integer", "minimum": 1, "maximum": INT32_MAX}, "default: the latest")],
    ),
}

PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "key": {"type": "string", "minLength": 1, "maxLength": 128},
    "instance_id": {"type": "string", "format": "uuid"},
    "task_id": {"type": "string", "format": "uuid"},
    "kind": {"type": "string", "enum": ["process", "form"]},
    "name": {"type": "string", "minLength": 1, "maxLength": 128},
    "form_id": {"type": "string", "minLength": 1, "maxLength": 128},
    "case_no": {"type": "string", "minLength": 1, "maxLength": 32},
}
PATH_PARAMETERS["attachment_id"] = {"type": "integer", "format": "int64", "minimum": 0, "maximum": INT64_MAX}

ERROR_DESCRIPTIONS = {
    400: "malformed input (`invalid_input`; `details.fields` for body fields)",
    401: "no, an unknown or a revoked API token (`unauthenticated`)",
    403: "the caller's role or group does not allow this (`permission_denied`)",
    404: "no such definition, instance, task, user or message (`*_not_found`)",
    409: "the current state does not allow this (`invalid_transition`, `duplicate_business_key`, ...)",
    422: "invalid definition files (`details.problems`) or form data (`details.fields`)",
    429: "too many requests (`rate_limited`; wait `Retry-After` seconds)",
}

_PLACEHOLDER = re.compile(r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")


def openapi_path(rule: Rule) -> str:
    """``/api/v1/tasks/<task_id>`` → ``/api/v1/tasks/{task_id}``."""
    return _PLACEHOLDER.sub(lambda m: "{" + m.group("name") + "}", rule.rule)


def api_rules(app: Flask) -> list[Rule]:
    """The registered /api/v1 routes, including the document's own."""
    return sorted((r for r in app.url_map.iter_rules() if r.rule.startswith(API_PREFIX + "/")), key=lambda r: r.rule)


def rule_methods(rule: Rule) -> list[str]:
    return sorted(m.lower() for m in (rule.methods or ()) if m not in ("HEAD", "OPTIONS"))


def _converters(rule: Rule) -> dict[str, str]:
    """Path parameter name → werkzeug converter name (``default`` when none is given)."""
    return {m.group("name"): m.group("converter") or "default" for m in _PLACEHOLDER.finditer(rule.rule)}


def _path_parameter(name: str, converter: str) -> dict[str, Any]:
    if converter == "int":
        schema: dict[str, Any] = {"type": "integer", "format": "int64", "minimum": 1, "maximum": INT64_MAX}
    else:
        schema = dict(PATH_PARAMETERS.get(name, {"type": "string", "minLength": 1}))
    return {"in": "path", "name": name, "required": True, "schema": schema}


def _operation(endpoint: str, op: Operation, rule: Rule) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": endpoint.removeprefix("api."), "summary": op.summary, "tags": [op.tag]}
    if op.description:
        doc["description"] = op.description
    parameters = [_path_parameter(name, converter) for name, converter in _converters(rule).items()] + list(op.query)
    if parameters:
        doc["parameters"] = sorted(parameters, key=lambda p: (p["in"] != "path", p["name"]))
    if op.body is not None:
        content: dict[str, Any] = {"application/json": {"schema": op.body}}
        if op.multipart is not None:
            content["multipart/form-data"] = {"schema": op.multipart}
        doc["requestBody"] = {"required": op.body_required, "content": content}
    responses: dict[str, Any] = {}
    for status, (description, schema) in sorted(op.responses.items()):
        responses[str(status)] = {"description": description, "content": {"application/json": {"schema": schema}}}
    for status in op.errors:
        responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    doc["responses"] = responses
    return doc


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document for the routes registered on ``app`` (a fresh dict; see :func:`spec_for`)."""
    spec = APISpec(
        title="CareFlow API", version="1", openapi_version=OPENAPI_VERSION, plugins=[MarshmallowPlugin()],
        info={"description": "JSON over HTTP. Send `Authorization: Bearer <token>` (`careflow token create NAME`), or "
                             "use the signed-in browser session and send its CSRF token (the page's `csrf-token` meta "
                             "tag) in `X-CSRF-Token` on every request that changes something. "
                             "Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`."},
        security=[{"bearerAuth": []}, {"browserSession": []}],
    )
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("browserSession", {"type": "apiKey", "in": "cookie", "name": "session"})
    for name, schema in [("Error", Error), ("DeployResult", DeployResult), ("ValidationResult", ValidationResult),
                         ("ImportResult", ImportResult), ("DraftImportResult", DraftImportResult)]:
        spec.components.schema(name, schema=schema)
    for status, description in ERROR_DESCRIPTIONS.items():
        spec.components.response(f"Error{status}", {"description": description,
                                                    "content": {"application/json": {"schema": Error}}})
    spec.path(path=f"{API_PREFIX}/openapi.json", operations={"get": {
        "operationId": "openapi", "summary": "This document", "tags": ["meta"], "security": [],
        "responses": {"200": {"description": "the OpenAPI document", "content": {"application/json": {
            "schema": {"type": "object"}}}}}}})
    paths: dict[str, dict[str, Any]] = {}
    for rule in api_rules(app):
        op = OPERATIONS.get(rule.endpoint)
        if op is None:
            continue
        for method in rule_methods(rule):
            paths.setdefault(openapi_path(rule), {})[method] = _operation(rule.endpoint, op, rule)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def spec_for(app: Flask) -> dict[str, Any]:
    """The document for ``app``, built on first use and then kept for the app's lifetime."""
    cached: dict[str, Any] | None = app.extensions.get(CACHE_KEY)
    if cached is None:
        cached = app.extensions[CACHE_KEY] = build_spec(app)
    return cached


@api_bp.get("/openapi.json")
def openapi_document() -> Any:
    """The OpenAPI document of this API (no token needed), built once per app (endpoint ``api.openapi_document``)."""
    return jsonify(spec_for(current_app))
