// The CareFlow group of the properties panel: what the engine reads from a diagram
// (engine/bpmn/extensions.py): form key, candidate groups/users, priority, SLA (dueIn /
// dueInWorkdays), assignment; service handler; timer expressions; scripts and conditions.
// Its texts are English and go through bpmn-js's ``translate`` service like the library's own, so a Chinese page
// shows them in Chinese (bpmn-zh.js) and an English page in English: one language per page.
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
  const translate = useService('translate');
  return TextFieldEntry({
    element, id, debounce, label: translate(label), description: description && translate(description),
    getValue: () => propertyOf(getBusinessObject(element), name) || '',
    setValue: (value) => setProperty(injector, element, name, value),
  });
}

function AssignmentField(props) {
  const { element, id } = props;
  const injector = useService('injector');
  const translate = useService('translate');
  return SelectEntry({
    element, id, label: translate('Assignment'),
    getValue: () => propertyOf(getBusinessObject(element), 'assignment') || 'queue',
    setValue: (value) => setProperty(injector, element, 'assignment', value === 'queue' ? '' : value),
    getOptions: () => [
      { value: 'queue', label: translate('Queue (claim)') },
      { value: 'round_robin', label: translate('Round robin') },
      { value: 'least_loaded', label: translate('Least loaded') },
      { value: 'skills', label: translate('By skills') },
    ],
  });
}

function OperatorField(props) {
  const { element, id, attr, label } = props;
  const injector = useService('injector');
  const debounce = useService('debounceInput');
  const translate = useService('translate');
  return TextFieldEntry({
    element, id, label: translate(label), debounce,
    getValue: () => (operatorOf(getBusinessObject(element)) || {})[attr] || '',
    setValue: (value) => setOperator(injector, element, attr, value),
  });
}

function timerDefinition(bo) {
  return (bo.eventDefinitions || []).find((d) => is(d, 'bpmn:TimerEventDefinition'));
}

const TIMER_KINDS = ['timeDuration', 'timeDate', 'timeCycle'];
const TIMER_NAMES = { timeDuration: 'Duration', timeDate: 'Date', timeCycle: 'Cycle' };  // bpmn-js's own words
// dueIn's explanation (engine/bpmn/validation.py checks it; docs/bpmn-conventions.md)
const DUE_IN = 'An ISO 8601 duration from the task\'s creation: P2D is 2 days, PT4H 4 hours, P1DT12H a day and a half';

function TimerField(props) {
  const { element, id } = props;
  const injector = useService('injector');
  const debounce = useService('debounceInput');
  const definition = timerDefinition(getBusinessObject(element));
  const kind = TIMER_KINDS.find((k) => definition.get(k)) || 'timeDuration';
  const translate = useService('translate');
  return TextFieldEntry({
    element, id, debounce,
    label: translate('Timer ({kind})', { kind: translate(TIMER_NAMES[kind]) }),
    description: translate('An ISO 8601 literal (P2D, 2026-12-08T09:00:00+08:00, R3/PT10M) or a Python expression'),
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
  const translate = useService('translate');
  return TextAreaEntry({
    element, id, debounce, label: translate('Script (Python)'), rows: 4, monospace: true,
    getValue: () => getBusinessObject(element).get('script') || '',
    setValue: (value) => modeling.updateProperties(element, { script: value, scriptFormat: 'python' }),
  });
}

function ConditionField(props) {
  const { element, id } = props;
  const injector = useService('injector');
  const debounce = useService('debounceInput');
  const bo = getBusinessObject(element);
  const translate = useService('translate');
  return TextFieldEntry({
    element, id, debounce, label: translate('Condition (Python)'),
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
    field('formKey', 'Form key', 'The form file forms/<key>.json');
    field('candidateGroups', 'Candidate groups', 'Comma-separated; the lane name when empty');
    field('candidateUsers', 'Candidate users', 'Comma-separated');
    field('priority', 'Priority', '0–100');
    field('dueIn', 'Due in (SLA)', DUE_IN);
    field('dueInWorkdays', 'Due in working days (SLA)', 'A whole number of working days (the bank calendar)');
    entries.push({ id: 'careflow-assignment', component: AssignmentField, isEdited: isSelectEntryEdited });
    field('requiredSkills', 'Required skills', 'For assignment by skills');
  }
  if (is(element, 'bpmn:ServiceTask')) {
    entries.push(handlerEntry(operatorOf, setOperator));
    entries.push({ id: 'careflow-resultVariable', attr: 'resultVariable', label: 'Result variable',
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

function CareflowPropertiesProvider(propertiesPanel, translate) {
  this.getGroups = (element) => (groups) => {
    const entries = entriesFor(element);
    if (entries.length) {
      groups.splice(1, 0, { id: 'careflow', label: translate('CareFlow properties'), entries, shouldOpen: true });
    }
    return groups;
  };
  propertiesPanel.registerProvider(500, this);
}

CareflowPropertiesProvider.$inject = ['propertiesPanel', 'translate'];

export default {
  __init__: ['careflowPropertiesProvider'],
  careflowPropertiesProvider: ['type', CareflowPropertiesProvider],
};
