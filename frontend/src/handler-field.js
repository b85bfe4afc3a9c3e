// Two fields of the modeler's properties panel that read the page's configuration (``careflow`` in the modeler's
// config: the handler catalogue, the messages and the page's language):
// - the service task's handler, a select over the catalogue (GET /designer/handlers: description, parameters, which
//   processes may call it), with the chosen handler's description and required parameters under it;
// - the English name (careflow:nameEn, docs/bpmn-conventions.md) under the name, on every element that has one.
import { SelectEntry, TextFieldEntry, isSelectEntryEdited, isTextFieldEntryEdited } from '@bpmn-io/properties-panel';
import { useService } from 'bpmn-js-properties-panel';
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';

function say(config, name, values = {}) {
  const text = (config.messages || {})[name] || name;
  return text.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

function describe(config, entry) {
  if (!entry) return '';
  const text = (config.lang === 'en' ? entry.description_en : entry.description_zh) || '';
  const required = (entry.params || []).filter((p) => p.required).map((p) => p.name);
  return [text, required.length ? say(config, 'handlerRequired', { names: required.join(', ') }) : '']
    .filter(Boolean).join(' · ');
}

/** The handler select; ``getOperator``/``setOperator`` are careflow-properties.js's (the serviceTaskOperator). */
export function handlerEntry(getOperator, setOperator) {
  function HandlerField(props) {
    const { element, id } = props;
    const injector = useService('injector');
    const config = useService('config.careflow') || {};
    const handlers = config.handlers || [];
    const current = (getOperator(getBusinessObject(element)) || {}).id || '';
    const known = handlers.find((h) => h.name === current);
    return SelectEntry({
      element, id, label: say(config, 'handler'),
      description: known ? describe(config, known) : (current ? say(config, 'handlerUnknown', { name: current }) : ''),
      getValue: () => current,
      setValue: (value) => setOperator(injector, element, 'id', value),
      getOptions: () => [
        { value: '', label: say(config, 'handlerNone') },
        ...(current && !known ? [{ value: current, label: current }] : []),
        ...handlers.map((h) => ({
          value: h.name,
          label: h.allowed ? h.name : `${h.name} (${say(config, 'handlerNotAllowed')})`,
        })),
      ],
    });
  }
  return { id: 'careflow-handler', component: HandlerField, isEdited: isSelectEntryEdited };
}

function NameEnField(props) {
  const { element, id } = props;
  const modeling = useService('modeling');
  const debounce = useService('debounceInput');
  const config = useService('config.careflow') || {};
  return TextFieldEntry({
    element, id, debounce, label: say(config, 'nameEn'), description: say(config, 'nameEnHelp'),
    getValue: () => getBusinessObject(element).get('careflow:nameEn') || '',
    setValue: (value) => modeling.updateProperties(element, { 'careflow:nameEn': value || undefined }),
  });
}

function NameEnProvider(propertiesPanel) {
  this.getGroups = (element) => (groups) => {
    const general = groups.find((g) => g.id === 'general');
    const named = is(element, 'bpmn:FlowElement') || is(element, 'bpmn:Process') || is(element, 'bpmn:Participant')
      || is(element, 'bpmn:Lane');
    if (!general || !named) return groups;
    const at = general.entries.findIndex((e) => e.id === 'name');
    general.entries.splice(at < 0 ? general.entries.length : at + 1, 0,
      { id: 'careflow-nameEn', component: NameEnField, isEdited: isTextFieldEntryEdited });
    return groups;
  };
  propertiesPanel.registerProvider(400, this);
}

NameEnProvider.$inject = ['propertiesPanel'];

export const nameEnModule = {
  __init__: ['careflowNameEnProvider'],
  careflowNameEnProvider: ['type', NameEnProvider],
};
