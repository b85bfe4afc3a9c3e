"""The script sandbox: ordinary process scripts work, escape attempts are errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from engine.bpmn.scripting import RestrictedEnvironment, ScriptCompileError, check_script
from engine.services import instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy


@pytest.fixture
def env() -> RestrictedEnvironment:
    return RestrictedEnvironment({"now": lambda: datetime(2025, 3, 3, tzinfo=UTC), "Decimal": Decimal})


def test_ordinary_scripts_run_and_leave_only_data(env):
    data = {"amount": 120, "tags": ["vip"], "customer": {"name": "王芳"}}
    env.execute(
        "total = amount * 2\n"
        "tags.append('phone')\n"
        "label = f\"{customer['name']}:{total}\"\n"
        "squares = [i * i for i in range(3)]\n"
        "fee = Decimal('1.50')\n"
        "count = 0\n"
        "for t in tags:\n    count += 1\n"
        "when = now().year\n",
        data,
    )
    assert data["total"] == 240 and data["tags"] == ["vip", "phone"] and data["label"] == "王芳:240"
    assert data["squares"] == [0, 1, 4] and data["fee"] == Decimal("1.50") and data["count"] == 2
    assert data["when"] == 2025
    assert not {"now", "Decimal", "__builtins__", "_getattr_"} & set(data)
    assert env.evaluate("amount > 100 and 'vip' in tags", data) is True


def test_task_data_may_not_shadow_a_helper(env):
    with pytest.raises(ValueError, match="overwrites a predefined function"):
        env.execute("x = 1", {"now": "not a function"})


ESCAPES = [
    "import os",
    "from os import path",
    "__import__('os')",
    "open('/etc/hostname').read()",
    "().__class__.__base__.__subclasses__()",
    "x = ''.__class__",
    "getattr('', '__class__')",
    "'{0.__class__}'.format(1)",
    "eval('1+1')",
    "exec('a = 1')",
    "compile('1', 'x', 'eval')",
    "globals()",
    "type(1)",
    "vars()",
    "(lambda: 0).__globals__",
    "[].__class__.__mro__",
    "now.__code__ = None",
    "d = dir()",
]


@pytest.mark.parametrize("script", ESCAPES)
def test_escape_attempts_are_errors(env, script):
    data: dict[str, object] = {}
    with pytest.raises((ScriptCompileError, NameError, AttributeError, TypeError, NotImplementedError)):
        env.execute(script, data)
    assert not any(isinstance(v, type) or callable(v) for v in data.values())


COMPILE_TIME = ["import os", "from os import path", "__import__('os')", "().__class__.__base__.__subclasses__()",
                "x = ''.__class__", "(lambda: 0).__globals__", "[].__class__.__mro__", "now.__code__ = None"]


@pytest.mark.parametrize("script", COMPILE_TIME)
def test_compile_time_escapes_are_reported_before_deploy(script):
    problems = check_script(script, "exec")
    assert problems and problems[0][0] == 1


def test_check_script_reports_the_line():
    assert check_script("a = 1\nb = 2", "exec") == []
    [(line, message)] = check_script("a = 1\nimport os", "exec")
    assert line == 2 and "import" in message


def test_escape_in_a_running_process_is_an_instance_error(ctx):
    # getattr is not a name the compiler can refuse: it fails when the step runs.
    deploy(ctx, ("p.bpmn", b.linear("p", b.script_task("sneaky", "cls = getattr(amount, 'real')"))))
    started = instances.start_instance(ctx, process_key="p", actor=SYSTEM, variables={"amount": 1})
    assert started.status == "error" and "getattr" in started.error["message"]
