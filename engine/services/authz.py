"""Role checks shared by the services (roles: staff, supervisor, designer, compliance, admin).

A role says which parts of CareFlow a person works in; what they may do to which process, instance, message or
customer is a grant (engine.authz).
"""

from __future__ import annotations

from engine.errors import PermissionDeniedError
from engine.views import Actor


def require_role(actor: Actor, *roles: str) -> None:
    """Admins pass every check; otherwise the actor needs one of ``roles``."""
    if not actor.has_role(*roles):
        raise PermissionDeniedError(
            f"{actor.username} needs one of the roles {', '.join(roles)}", details={"roles": list(roles)}
        )


def require_any_role(actor: Actor) -> None:
    require_role(actor, "staff", "supervisor", "designer", "compliance")
