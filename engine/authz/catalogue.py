"""What can be granted: resource kinds, their permissions, the built-in grants, and the customer's own acts.

A grant gives one *permission* on one *resource* (a kind and an id, or ``*`` for every resource of the kind) to
one *principal*: ``user:<name>``, ``group:<name>``, ``role:<role>``, or — for service handlers — ``process:<key>``.
Nothing is allowed without a grant (deny by default), in the style of Camunda 7's authorizations.

The built-in grants (:data:`DEFAULT_GRANTS`, written by migration 0018 and editable afterwards) give each role
what its job needs; everything finer — one process key for one group, one customer branch for a branch manager,
one message name for one integration account — is a grant an administrator adds with a second administrator's
approval (``engine.services.grants``).
"""

from __future__ import annotations

from dataclasses import dataclass

ANY = "*"
PRINCIPAL_KINDS = ("user", "group", "role", "process")


@dataclass(frozen=True)
class Permission:
    name: str
    zh: str
    en: str


# resource kind -> its permissions (labels for the admin pages and the closing table).
PERMISSIONS: dict[str, tuple[Permission, ...]] = {
    "process": (
        Permission("start", "发起流程", "start instances"),
        Permission("read", "查看实例及其数据", "read instances, their history and data"),
        Permission("inspect", "查看流程路径和统计（不含数据）", "see paths and statistics (no data)"),
        Permission("manage", "重试、修正、终止实例", "retry, patch and terminate instances"),
        Permission("deploy", "部署新版本", "deploy new versions"),
        Permission("migrate", "迁移运行中的实例", "migrate live instances"),
        Permission("approve", "审批部署和迁移（复核人）", "approve deploys and migrations (checker)"),
    ),
    "instance": (Permission("read", "查看该实例及其数据", "read this instance and its data"),),
    "message": (Permission("correlate", "向流程发送该消息", "deliver this message to processes"),),
    "customer": (
        Permission("read", "查看客户资料", "read customer records"),
        Permission("reveal", "查看完整联系方式（须说明用途）", "reveal contact details (with a purpose)"),
    ),
    "handler": (Permission("use", "在流程中调用该服务", "call this service handler from a process"),),
    "system": (
        Permission("users", "管理用户、角色和令牌", "manage users, roles and tokens"),
        Permission("grants", "管理授权", "manage grants"),
        Permission("audit", "核验和导出审计记录", "verify and export the audit trail"),
        Permission("outbox", "查看和重发失败消息", "see and resend dead letters"),
    ),
}

RESOURCE_LABELS = {"process": ("流程", "process"), "instance": ("实例", "instance"), "message": ("消息", "message"),
                   "customer": ("客户", "customers"), "handler": ("服务", "service handler"),
                   "system": ("系统", "system")}

# Customer resources: "*" every customer, "portfolio" the customers one manages, "branch:<code>" a branch's.
PORTFOLIO = "portfolio"
BRANCH_PREFIX = "branch:"

# Messages that are the customer's own act: only the customer's authenticated channel (the portal, an intake
# client acting for the customer) may send them, or staff recording the act for the customer with evidence
# (engine.complaints.service). A "*" message grant never covers them.
CUSTOMER_ACTS = frozenset({"complaint.withdrawn", "complaint.rated", "complaint.review_requested",
                           "sales.cooling_off_cancel"})

# Privileged roles: giving one to anybody needs a second administrator's approval.
PRIVILEGED_ROLES = frozenset({"admin", "supervisor", "compliance"})

# (principal, resource kind, resource id, permissions): what migration 0018 writes.
DEFAULT_GRANTS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("role:staff", "process", ANY, ("start",)),
    ("role:staff", "process", "complaint_handling", ("read",)),
    ("role:staff", "customer", PORTFOLIO, ("read", "reveal")),
    ("role:supervisor", "process", ANY, ("start", "read", "inspect", "manage", "approve")),
    ("role:supervisor", "customer", ANY, ("read", "reveal")),
    ("role:supervisor", "message", ANY, ("correlate",)),
    ("role:supervisor", "system", "outbox", ("outbox",)),
    ("role:designer", "process", ANY, ("start", "inspect", "deploy", "migrate", "approve")),
    ("role:compliance", "process", ANY, ("read", "inspect")),
    ("role:compliance", "customer", ANY, ("read",)),
    ("role:compliance", "system", "audit", ("audit",)),
    ("role:admin", "system", "users", ("users",)),
    ("role:admin", "system", "grants", ("grants",)),
    ("role:admin", "system", "audit", ("audit",)),
    ("role:admin", "system", "outbox", ("outbox",)),
    ("role:admin", "process", ANY, ("start", "read", "inspect", "manage", "deploy", "migrate", "approve")),
    ("role:admin", "customer", ANY, ("read", "reveal")),
    ("role:admin", "message", ANY, ("correlate",)),
)


def permission_names(kind: str) -> tuple[str, ...]:
    return tuple(p.name for p in PERMISSIONS.get(kind, ()))


def label(kind: str, permission: str, language: str = "zh") -> str:
    for item in PERMISSIONS.get(kind, ()):
        if item.name == permission:
            return item.zh if language == "zh" else item.en
    return permission
