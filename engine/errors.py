"""Typed engine errors with stable codes.

Every error the engine raises on purpose is an :class:`EngineError` with a stable
``code`` (part of the API contract), a human-readable ``message`` and structured
``details``. ``web/errors.py`` holds the only mapping from these classes to HTTP
status codes; the engine itself knows nothing about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class EngineError(Exception):
    """Base class. ``code`` is stable and machine-readable; ``message`` is for people."""

    code = "engine_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFoundError(EngineError):
    code = "not_found"


class DefinitionNotFoundError(NotFoundError):
    code = "definition_not_found"


class InstanceNotFoundError(NotFoundError):
    code = "instance_not_found"


class InstanceArchivedError(NotFoundError):
    """Retention archived the ended instance: its summary and audit trail remain, its state does not."""

    code = "instance_archived"


class TaskNotFoundError(NotFoundError):
    code = "task_not_found"


class UserNotFoundError(NotFoundError):
    code = "user_not_found"


class CustomerNotFoundError(NotFoundError):
    code = "customer_not_found"


class ComplaintNotFoundError(NotFoundError):
    """No such complaint case, or not one the caller may see (a customer never learns others' cases exist)."""

    code = "complaint_not_found"


MAX_PROBLEM_MESSAGE = 2000  # characters of one problem's message: shown whole, within reason


@dataclass(frozen=True)
class DefinitionProblem:
    """One problem in a deployed file: where it is, what is wrong and how bad (an ``error`` blocks a deploy,
    a ``warning`` does not: e.g. a candidate group that does not exist yet)."""

    file: str
    line: int | None
    element_id: str | None
    message: str
    severity: str = "error"
    code: str = ""  # CareFlow's own checks: the text's id (engine.bpmn.validation.TEXTS), for the UI's language
    params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if len(self.message) > MAX_PROBLEM_MESSAGE:  # whole, within reason: a library may quote a whole document
            object.__setattr__(self, "message", self.message[:MAX_PROBLEM_MESSAGE - 1] + "…")

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "element_id": self.element_id, "message": self.message,
                "severity": self.severity, "code": self.code or None}


class InvalidDefinitionError(EngineError):
    """A BPMN, DMN or form file that cannot be deployed. Nothing was stored."""

    code = "invalid_definition"

    def __init__(self, problems: list[DefinitionProblem], message: str | None = None) -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"] or self.problems
        summary = message or "; ".join(
            f"{p.file}:{p.line or '?'} {p.element_id or '-'}: {p.message}" for p in errors[:5]
        )
        super().__init__(summary, details={"problems": [p.to_dict() for p in self.problems]})


class FormValidationError(EngineError):
    """Submitted form data does not satisfy the task's form. ``errors`` maps field → messages."""

    code = "form_invalid"

    def __init__(self, errors: dict[str, list[str]], message: str = "The form has errors") -> None:
        self.errors = errors
        super().__init__(message, details={"fields": errors})


class InvalidInputError(EngineError):
    """A command argument is malformed (not a form: e.g. an unknown view or a bad cursor)."""

    code = "invalid_input"


class AuthenticationError(EngineError):
    code = "unauthenticated"


class PermissionDeniedError(EngineError):
    code = "permission_denied"


class RateLimitedError(EngineError):
    """Too many requests of this kind from this caller; ``details.retry_after`` says how many seconds to wait."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class ConflictError(EngineError):
    """The command cannot be applied to the current state; retrying as is will not help."""

    code = "conflict"


class InvalidTransitionError(ConflictError):
    """A lifecycle transition that the current state does not allow (e.g. claim a claimed task)."""

    code = "invalid_transition"

    def __init__(self, message: str, *, subject: str, state: str, action: str) -> None:
        super().__init__(message)
        self.details = {"subject": subject, "state": state, "action": action}


class DefinitionSuspendedError(ConflictError):
    """The process version is suspended or retired: it starts no new instances (the running ones go on)."""

    code = "definition_suspended"

    def __init__(self, message: str, *, key: str, version: int, status: str) -> None:
        super().__init__(message)
        self.details = {"process_key": key, "version": version, "status": status}


class ConcurrentModificationError(ConflictError):
    """Someone else changed the same instance first; reload and try again."""

    code = "concurrent_modification"


class StepFailedError(ConflictError):
    """The step could not be stored (its state cannot be serialized, a query table cannot be rebuilt...): its
    changes are gone and the instance is in ``error`` with the cause, for a supervisor (an incident)."""

    code = "step_failed"


class DuplicateBusinessKeyError(ConflictError):
    code = "duplicate_business_key"


class MessageNotCorrelatedError(ConflictError):
    """No instance waits for this message with these correlation values (nothing was recorded)."""

    code = "message_not_correlated"


class AmbiguousCorrelationError(ConflictError):
    code = "message_ambiguous"


class ProcessScriptError(EngineError):
    """A script, condition or service call inside the process failed.

    The instance has been marked ``error`` (in its own committed transaction) with this
    message and the failing task, so a supervisor can fix data and retry.
    """

    code = "process_error"

    def __init__(
        self,
        message: str,
        *,
        instance_id: str | None = None,
        task_name: str | None = None,
        line: int | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(
            message,
            details={"instance_id": instance_id, "task": task_name, "line": line, "error_type": error_type},
        )


class ScriptSecurityError(EngineError):
    """A process script tried something the sandbox forbids (imports, dunder access, ...)."""

    code = "script_forbidden"


class IntegrationError(EngineError):
    """An external system failed. ``retryable`` says whether the same call may succeed later."""

    code = "integration_failed"

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message, details={"retryable": retryable, "retry_after": retry_after})
        self.retryable = retryable
        self.retry_after = retry_after


class ConfigurationError(EngineError):
    code = "configuration_error"


class ReplayedRequestError(ConflictError):
    """A signed request that was already accepted once (the same signature again): nothing is done or counted."""

    code = "replayed_request"
