// The CareFlow group of the properties panel: what the engine reads from a diagram
// (engine/bpmn/extensions.py): form key, candidate groups/users, priority, SLA (dueIn /
// dueInWorkdays), assignment; service handler; timer expressions; scripts and conditions.
import {
  SelectEntry,
  TextAreaEntry,
  TextFieldEntry,
  isSelectEntryEdited,
  isTextAreaEntryEdited,
  isTextFieldEntryEdited,
} from '@bpmn-io/properties-panel';
import { useService } from 'bpmn-js-properties-panel';
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';
import { propertyOf } from './lint-rules.js';
import { handlerEntry } from './handler-field.js';

const MULTI = 'properties-panel.multi-command-executor';

function update(element, moddleElement, properties) {
  return { cmd: 'element.updateModdleProperties', context: { element, moddleElement, properties } };
}

function ensureExtensions(element, bo, bpmnFactory, commands) {
  let extensions = bo.get('extensionElements');
  if (!extensions) {
    extensions = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
    extensions.$parent = bo;
    commands.push(update(element, bo, { extensionElements: extensions }));
  }
  return extensions;
}

function ensureChild(element, parent, type, bpmnFactory, commands, attrs = {}) {
  let child = parent.get('values').find((v) => v.$type === type);
  if (!child) {
    child = bpmnFactory.create(type, attrs);
    child.$parent = parent;
    commands.push(update(element, parent, { values: [...parent.get('values'), child] }));
  }
  return child;
}

export function setProperty(injector, element, name, value) {
  const bpmnFactory = injector.get('bpmnFactory');
  const bo = getBusinessObject(element);
  const commands = [];
  const extensions = ensureExtensions(element, bo, bpmnFactory, commands);
  const holder = ensureChild(element, extensions, 'spiffworkflow:Properties', bpmnFactory, commands, { values: [] });
  const existing = holder.get('values').find((p) => p.name === name);
  if (value === undefined || value === null || value === '') {
    if (existing) {
      commands.push(update(element, holder, { values: holder.get('values').filter((p) => p !== existing) }));
    }
  } else if (existing) {
    commands.push(update(element, existing, { value }));
  } else {
    const prop = bpmnFactory.create('spiffworkflow:Property', { name, value });
    prop.$parent = holder;
    commands.push(update(element, holder, { values: [...holder.get('values'), prop] }));
  }
  if (commands.length) {
    injector.get('commandStack').execute(MULTI, commands);
  }
}

function operatorOf(bo) {
  const values = (bo.extensionElements && bo.extensionElements.values) || [];
  return values.find((v) => v.$type === 'spiffworkflow:ServiceTaskOperator');
}

function setOperator(injector, element, attr, value) {
  const bpmnFactory = injector.get('bpmnFactory');
  const bo = getBusinessObject(element);
  const commands = [];
  const extensions = ensureExtensions(element, bo, bpmnFactory, commands);
  const operator = ensureChild(element, extensions, 'spiffworkflow:ServiceTaskOperator', bpmnFactory, commands);
  commands.push(update(element, operator, { [attr]: value || undefined }));
  injector.get('commandStack').execute(MULTI, commands);
}

function PropertyField(props) {
  const { element, id, name, label, description } = props;
  const injector = useService('injector');
  const debounce = useService('debounceInput');
  return TextFieldEntry({
    element, id, label, description, debounce,
    getValue: () => propertyOf(getBusinessObject(element), name) || '',
    setValue: (value) => setProperty(injector, element, name, value),
  });
}

function AssignmentField(props) {
  const { element, id } = props;
  const injector = useService('injector');
  return SelectEntry({
    element, id, label: '分派 Assignment',
    getValue: () => propertyOf(getBusinessObject(element), 'assignment') || 'queue',
    setValue: (value) => setProperty(injector, element, 'assignment', value === 'queue' ? '' : value),
    getOptions: () => [
      { value: 'queue', label: '队列认领 Queue (claim)' },
      { value: 'round_robin', label: '轮流 Round robin' },
      { value: 'least_loaded', label: '最少负载 Least loaded' },
      { value: 'skills', label: '按技能 By skills' },
    ],
  });
}

function OperatorField(props) {
  const { element, id, attr, label } = props;
  const injector = useService('injector');
  const debounce = useService('debounceInput');
  return TextFieldEntry({
    element, id, label, debounce,
    getValue: () => (operatorOf(getBusinessObject(element)) || {})[attr] || '',
    setValue: (value) => setOperator(injector, element, attr, value),
  });
}

function timerDefinition(bo) {
  return (bo.eventDefinitions || []).find((d) => is(d, 'bpmn:TimerEventDefinition'));
}

const TIMER_KINDS = ['timeDuration', 'timeDate', 'timeCycle'];

function TimerField(props) {
  const { element, id } = props;
  const injector = useService('injector');
  const debounce = useService('debounceInput');
  const definition = timerDefinition(getBusinessObject(element));
  const kind = TIMER_KINDS.find((k) => definition.get(k)) || 'timeDuration';
  return TextFieldEntry({
    element, id, debounce,
    label: `计时器 Timer (${kind})`,
    description: 'Python 表达式，ISO 值需加引号 A Python expression: quote ISO values, e.g. "P2D"',
    getValue: () => (definition.get(kind) ? definition.get(kind).body : '') || '',
    setValue: (value) => {
      const expression = injector.get('bpmnFactory').create('bpmn:FormalExpression', { body: value });
      expression.$parent = definition;
      injector.get('commandStack').execute(MULTI, [update(element, definition, { [kind]: expression })]);
    },
  });
}

function ScriptField(props) {
  const { element, id } = props;
  const modeling = useService('modeling');
  const debounce = useService('debounceInput');
  return TextAreaEntry({
    element, id, debounce, label: '脚本 Script (Python)', rows: 4, monospace: true,
    getValue: () => getBusinessObject(element).get('script') || '',
    setValue: (value) => modeling.updateProperties(element, { script: value, scriptFormat: 'python' }),
  });
}

function ConditionField(props) {
  const { element, id } = props;
  const injector = useService('injector');
  const debounce = useService('debounceInput');
  const bo = getBusinessObject(element);
  return TextFieldEntry({
    element, id, debounce, label: '条件 Condition (Python)',
    getValue: () => (bo.get('conditionExpression') ? bo.get('conditionExpression').body : '') || '',
    setValue: (value) => {
      let expression;
      if (value) {
        expression = injector.get('bpmnFactory').create('bpmn:FormalExpression', { body: value });
        expression.$parent = bo;
      }
      injector.get('modeling').updateProperties(element, { conditionExpression: expression });
    },
  });
}

function entriesFor(element) {
  const bo = getBusinessObject(element);
  const entries = [];
  const field = (name, label, description) => entries.push({
    id: `careflow-${name}`, name, label, description, component: PropertyField, isEdited: isTextFieldEntryEdited,
  });
  if (is(element, 'bpmn:UserTask')) {
    field('formKey', '表单 Form key', '表单文件 forms/<key>.json');
    field('candidateGroups', '候选组 Candidate groups', '逗号分隔；为空时用泳道名 Comma-separated; the lane name when empty');
    field('candidateUsers', '候选人 Candidate users', '逗号分隔 Comma-separated');
    field('priority', '优先级 Priority', '0–100');
    field('dueIn', '时限 SLA (dueIn)', 'ISO 8601 时长 duration, e.g. P2D, PT4H');
    field('dueInWorkdays', '工作日时限 SLA in working days', '整数 A whole number');
    entries.push({ id: 'careflow-assignment', component: AssignmentField, isEdited: isSelectEntryEdited });
    field('requiredSkills', '所需技能 Required skills', '分派为按技能时 For assignment by skills');
  }
  if (is(element, 'bpmn:ServiceTask')) {
    entries.push(handlerEntry(operatorOf, setOperator));
    entries.push({ id: 'careflow-resultVariable', attr: 'resultVariable', label: '结果变量 Result variable',
      component: OperatorField, isEdited: isTextFieldEntryEdited });
  }
  if (is(element, 'bpmn:ScriptTask')) {
    entries.push({ id: 'careflow-script', component: ScriptField, isEdited: isTextAreaEntryEdited });
  }
  if (is(element, 'bpmn:SequenceFlow') && bo.sourceRef && (is(bo.sourceRef, 'bpmn:ExclusiveGateway')
      || is(bo.sourceRef, 'bpmn:InclusiveGateway'))) {
    entries.push({ id: 'careflow-condition', component: ConditionField, isEdited: isTextFieldEntryEdited });
  }
  if (is(element, 'bpmn:Event') && timerDefinition(bo)) {
    entries.push({ id: 'careflow-timer', component: TimerField, isEdited: isTextFieldEntryEdited });
  }
  return entries;
}

function CareflowPropertiesProvider(propertiesPanel) {
  this.getGroups = (element) => (groups) => {
    const entries = entriesFor(element);
    if (entries.length) {
      groups.splice(1, 0, { id: 'careflow', label: 'CareFlow 流程属性 CareFlow', entries, shouldOpen: true });
    }
    return groups;
  };
  propertiesPanel.registerProvider(500, this);
}

CareflowPropertiesProvider.$inject = ['propertiesPanel'];

export default {
  __init__: ['careflowPropertiesProvider'],
  careflowPropertiesProvider: ['type', CareflowPropertiesProvider],
};
