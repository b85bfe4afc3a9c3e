"""The one-task BPMN the benchmarks deploy: start → a user task for the group ``team`` → end."""

from __future__ import annotations


def one_task_bpmn(process_id: str, form_key: str | None = None) -> bytes:
    form = f'\n<spiffworkflow:property name="formKey" value="{form_key}"/>' if form_key else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="x">
<bpmn:process id="{process_id}" isExecutable="true">
<bpmn:startEvent id="start"/>
<bpmn:userTask id="review" name="Review"><bpmn:extensionElements><spiffworkflow:properties>
<spiffworkflow:property name="candidateGroups" value="team"/>{form}</spiffworkflow:properties></bpmn:extensionElements>
</bpmn:userTask>
<bpmn:endEvent id="end"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
</bpmn:process></bpmn:definitions>""".encode()
