"""marshmallow schemas for API request bodies (marshmallow 4 style)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from engine.errors import InvalidInputError
from engine.forms import schema_instance


class StartInstance(Schema):
    process_key = fields.String(required=True, validate=validate.Length(min=1, max=128))
    business_key = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=256))
    customer_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    variables = fields.Dict(keys=fields.String(), load_default=dict)
    version = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=2**31 - 1))


class Message(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=256))
    message_id = fields.String(required=True, validate=validate.Length(min=1, max=256))
    correlation = fields.Dict(keys=fields.String(), load_default=dict)
    payload = fields.Dict(keys=fields.String(), load_default=dict)
    source = fields.String(load_default="api", validate=validate.Length(min=1, max=64))


class Assign(Schema):
    user = fields.String(required=True, validate=validate.Length(min=1, max=128))


class Delegate(Schema):
    user = fields.String(required=True, validate=validate.Length(min=1, max=128))


class UpdateTask(Schema):
    priority = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0, max=100))
    due_at = fields.AwareDateTime(load_default=None, allow_none=True)
    follow_up_at = fields.AwareDateTime(load_default=None, allow_none=True)


class PauseSla(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class NewComment(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class Bulk(Schema):
    action = fields.String(required=True, validate=validate.OneOf(["claim", "assign"]))
    task_ids = fields.List(fields.String(validate=validate.Length(max=64)), required=True,
                           validate=validate.Length(min=1, max=200))
    user = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=128))


class Complete(Schema):
    data = fields.Dict(keys=fields.String(), load_default=dict)


class Retry(Schema):
    data = fields.Dict(keys=fields.String(), load_default=None, allow_none=True)


class Cancel(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=1000))


class DeployFile(Schema):
    filename = fields.String(required=True, validate=validate.Length(min=1, max=256))
    content = fields.String(required=True)


class Deploy(Schema):
    files = fields.List(fields.Nested(DeployFile), required=True, validate=validate.Length(min=1, max=50))
    process_key = fields.String(load_default=None, allow_none=True)


def load(schema: type[Schema], body: Any) -> dict[str, Any]:
    """Validate a JSON body; errors become InvalidInputError with field messages (HTTP 400)."""
    if not isinstance(body, dict):
        raise InvalidInputError("the request body must be a JSON object")
    try:
        result: dict[str, Any] = schema_instance(schema).load(body)
    except ValidationError as exc:
        raise InvalidInputError("the request body is invalid", details={"fields": exc.messages}) from exc
    return result
