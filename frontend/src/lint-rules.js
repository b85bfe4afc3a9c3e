// CareFlow's own bpmnlint rules (the same facts the server checks at deploy, reported while drawing).

function spiffChild(node, type) {
  const values = (node.extensionElements && node.extensionElements.values) || [];
  return values.find((v) => v.$type === type);
}

export function propertyOf(node, name) {
  const holder = spiffChild(node, 'spiffworkflow:Properties');
  const found = holder && (holder.values || []).find((p) => p.name === name);
  return found ? found.value : undefined;
}

export function userTaskForm() {
  function check(node, reporter) {
    if (node.$type === 'bpmn:UserTask' && !propertyOf(node, 'formKey')) {
      reporter.report(node.id, '用户任务没有表单 User task has no form (formKey)');
    }
  }
  return { check };
}

export function serviceTaskHandler() {
  function check(node, reporter) {
    if (node.$type === 'bpmn:ServiceTask') {
      const operator = spiffChild(node, 'spiffworkflow:ServiceTaskOperator');
      if (!operator || !operator.id) {
        reporter.report(node.id, '服务任务没有处理器 Service task names no handler');
      }
    }
  }
  return { check };
}
