"""Demo data: users for each role, the processes in processes/, a few waiting instances."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import func, select

from engine.bpmn.loader import SourceFile
from engine.context import EngineContext
from engine.db.models import ProcessInstance, User
from engine.services import definitions, identity, instances
from engine.views import Actor

ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "careflow-demo"
USERS = [
    ("zhang.wei", "张伟", ["staff"], ["service_team"]),
    ("li.na", "李娜", ["staff"], ["service_team", "branch_team"]),
    ("wang.fang", "王芳", ["supervisor"], ["service_team", "supervisors"]),
    ("chen.jie", "陈杰", ["designer"], []),
    ("admin", "系统管理员", ["admin"], []),
]


def _bundles() -> list[list[SourceFile]]:
    forms = [SourceFile(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("*.json"))]
    return [[SourceFile(p.name, p.read_bytes()), *forms] for p in sorted((ROOT / "processes").glob("*.bpmn"))]


def load(ctx: EngineContext) -> Iterator[str]:
    with ctx.sessions() as session:
        existing = set(session.scalars(select(User.username)))
    for username, display, roles, groups in USERS:
        if username not in existing:
            identity.create_user(ctx, username=username, display_name=display, roles=roles, groups=groups,
                                 password=DEMO_PASSWORD, actor="demo")
        yield f"login: {username:<10} password: {DEMO_PASSWORD}  ({', '.join(roles)})"
    designer = Actor("demo", frozenset({"designer"}))
    for bundle in _bundles():
        result = definitions.deploy_definition(ctx, files=bundle, actor=designer)
        assert result is not None
        yield f"process: {result.definition.key} v{result.definition.version}"
        with ctx.sessions() as session:
            count = session.scalar(select(func.count()).where(ProcessInstance.process_key == result.definition.key))
        staff = identity.get_actor(ctx, "zhang.wei")
        for n in range(int(count or 0), 3):
            instances.start_instance(ctx, process_key=result.definition.key, actor=staff,
                                     business_key=f"DEMO-{n + 1:03d}", customer_id=f"C{1001 + n}")
