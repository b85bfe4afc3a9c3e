"""Small BPMN builders: one tiny graph per behaviour, written inline in each test."""

from __future__ import annotations

from html import escape

from engine.bpmn.loader import SourceFile

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    'id="Definitions_{pid}" targetNamespace="http://careflow.example/bpmn">\n'
)


def props(**values: str) -> str:
    items = "".join(f'<spiffworkflow:property name="{k}" value="{escape(v)}"/>' for k, v in values.items())
    return f"<bpmn:extensionElements><spiffworkflow:properties>{items}</spiffworkflow:properties></bpmn:extensionElements>"


def start(id: str = "start") -> str:
    return f'<bpmn:startEvent id="{id}"/>'


def end(id: str = "end") -> str:
    return f'<bpmn:endEvent id="{id}"/>'


def user_task(id: str, name: str | None = None, **properties: str) -> str:
    ext = props(**properties) if properties else ""
    return f'<bpmn:userTask id="{id}" name="{escape(name or id)}">{ext}</bpmn:userTask>'


def script_task(id: str, script: str) -> str:
    return f'<bpmn:scriptTask id="{id}"><bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>'


def service_task(id: str, operation: str, result: str = "result", **params: str) -> str:
    ps = "".join(f'<spiffworkflow:parameter id="{k}" type="str" value="{escape(v)}"/>' for k, v in params.items())
    return (
        f'<bpmn:serviceTask id="{id}"><bpmn:extensionElements>'
        f'<spiffworkflow:serviceTaskOperator id="{operation}" resultVariable="{result}">'
        f"<spiffworkflow:parameters>{ps}</spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>"
        f"</bpmn:extensionElements></bpmn:serviceTask>"
    )


def gateway(id: str, default: str | None = None) -> str:
    return f'<bpmn:exclusiveGateway id="{id}"' + (f' default="{default}"' if default else "") + "/>"


def _timer(kind: str, expression: str) -> str:
    tag = {"duration": "timeDuration", "date": "timeDate", "cycle": "timeCycle"}[kind]
    return f"<bpmn:timerEventDefinition><bpmn:{tag}>{escape(expression)}</bpmn:{tag}></bpmn:timerEventDefinition>"


def timer_boundary(id: str, attached_to: str, kind: str, expression: str, cancel: bool = True) -> str:
    return (
        f'<bpmn:boundaryEvent id="{id}" attachedToRef="{attached_to}" cancelActivity="{str(cancel).lower()}">'
        f"{_timer(kind, expression)}</bpmn:boundaryEvent>"
    )


def timer_catch(id: str, kind: str, expression: str) -> str:
    return f'<bpmn:intermediateCatchEvent id="{id}">{_timer(kind, expression)}</bpmn:intermediateCatchEvent>'


def message_catch(id: str, message: str, variable: str, correlate: str | None = None) -> str:
    corr = ""
    if correlate:
        corr = (
            "<spiffworkflow:processVariableCorrelation>"
            f"<spiffworkflow:propertyId>{correlate}</spiffworkflow:propertyId>"
            f"<spiffworkflow:expression>{correlate}</spiffworkflow:expression>"
            "</spiffworkflow:processVariableCorrelation>"
        )
    return (
        f'<bpmn:intermediateCatchEvent id="{id}"><bpmn:messageEventDefinition messageRef="{message}">'
        f"<bpmn:extensionElements><spiffworkflow:messageVariable>{variable}</spiffworkflow:messageVariable>"
        f"{corr}</bpmn:extensionElements></bpmn:messageEventDefinition></bpmn:intermediateCatchEvent>"
    )


def message_defs(message: str, correlate: str) -> str:
    """Message, correlation property and key for ``message`` correlated on payload field ``correlate``."""
    return (
        f'<bpmn:message id="{message}" name="{message}"/>'
        f'<bpmn:correlationProperty id="{correlate}" name="{correlate}">'
        f'<bpmn:correlationPropertyRetrievalExpression messageRef="{message}">'
        f"<bpmn:formalExpression>{correlate}</bpmn:formalExpression>"
        f"</bpmn:correlationPropertyRetrievalExpression></bpmn:correlationProperty>"
    )


def flow(src: str, dst: str, condition: str | None = None, id: str | None = None) -> tuple[str, str, str | None, str]:
    return (src, dst, condition, id or f"flow_{src}_{dst}")


def definitions(
    pid: str, elements: list[str], flows: list[tuple[str, str, str | None, str]],
    *, name: str | None = None, root: str = "", collaboration: str = "",
) -> bytes:
    body = []
    for src, dst, condition, fid in flows:
        cond = f"<bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression>" if condition else ""
        body.append(f'<bpmn:sequenceFlow id="{fid}" sourceRef="{src}" targetRef="{dst}">{cond}</bpmn:sequenceFlow>')
    collab = ""
    if collaboration:
        collab = (f'<bpmn:collaboration id="collab_{pid}"><bpmn:participant id="p_{pid}" processRef="{pid}"/>'
                  f"{collaboration}</bpmn:collaboration>")
    xml = (
        HEAD.format(pid=pid) + collab + root
        + f'<bpmn:process id="{pid}" name="{escape(name or pid)}" isExecutable="true">'
        + "".join(elements) + "".join(body) + "</bpmn:process></bpmn:definitions>"
    )
    return xml.encode("utf-8")


def correlation_key(name: str, prop: str) -> str:
    ref = f"<bpmn:correlationPropertyRef>{prop}</bpmn:correlationPropertyRef>"
    return f'<bpmn:correlationKey name="{name}">{ref}</bpmn:correlationKey>'


def linear(pid: str, *middle: str, ids: list[str] | None = None, **kw: str) -> bytes:
    """start → the given elements in order → end (ids are taken from the elements)."""
    import re

    names = ids or [re.search(r'id="([^"]+)"', m).group(1) for m in middle]  # type: ignore[union-attr]
    chain = ["start", *names, "end"]
    return definitions(pid, [start(), *middle, end()], [flow(a, b) for a, b in zip(chain, chain[1:], strict=False)],
                       **kw)


def simple_task_process(pid: str = "simple", **properties: str) -> bytes:
    properties.setdefault("candidateGroups", "service_team")
    return linear(pid, user_task("review", "Review request", **properties))


def files(*pairs: tuple[str, bytes]) -> list[SourceFile]:
    return [SourceFile(name, content) for name, content in pairs]
