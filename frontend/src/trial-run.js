// The test run of the diagram in the modeler: sample start variables and (optionally) what each user task answers
// go to POST /designer/trial-run, which runs the draft in a throw-away database (engine/services/trial_run.py);
// the path taken is marked on the diagram and the data at the end, the user tasks completed and any error (with its
// element) are listed under it.
import { api, el } from './api.js';

const MARKERS = ['cf-visited', 'cf-current', 'cf-problem'];

export function elementName(modeler, id, lang) {
  const element = modeler.get('elementRegistry').get(id);
  if (!element) return id;
  const bo = element.businessObject;
  const english = bo.get ? bo.get('careflow:nameEn') : undefined;
  return (lang === 'en' && english) || bo.name || english || id;
}

function parseJson(text, t) {
  try {
    const value = JSON.parse(text || '{}');
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('{…}');
    return { value };
  } catch (error) {
    return { error: t('trialBadJson', { error: error.message }) };
  }
}

function userTaskIds(modeler) {
  return modeler.get('elementRegistry').filter((e) => e.type === 'bpmn:UserTask').map((e) => e.id);
}

export function setupTrialRun({ modeler, panel, button, currentXml, t, lang }) {
  let marked = [];
  const clearMarks = () => {
    const canvas = modeler.get('canvas');
    for (const [id, marker] of marked) canvas.removeMarker(id, marker);
    marked = [];
  };
  const mark = (id, marker) => {
    if (!modeler.get('elementRegistry').get(id)) return;
    modeler.get('canvas').addMarker(id, marker);
    marked.push([id, marker]);
  };

  const variables = el('textarea', { id: 'trial-variables', rows: '4', spellcheck: 'false', class: 'form-control' }, '{}');
  const answers = el('textarea', { id: 'trial-answers', rows: '4', spellcheck: 'false', class: 'form-control' });
  const run = el('button', { type: 'button', id: 'trial-start', class: 'btn btn-primary' }, t('trialRun'));
  const close = el('button', { type: 'button', id: 'trial-close', class: 'btn btn-outline-secondary' }, t('trialClose'));
  const result = el('div', { id: 'trial-result', role: 'status' });
  panel.replaceChildren(
    el('h3', {}, t('trialTitle')),
    el('label', { for: 'trial-variables' }, t('trialVariables')), variables,
    el('label', { for: 'trial-answers' }, t('trialAnswers')), answers,
    el('div', { class: 'designer-toolbar' }, run, close), result);

  button.addEventListener('click', () => {
    panel.hidden = false;
    if (!answers.value) {
      answers.value = JSON.stringify(Object.fromEntries(userTaskIds(modeler).map((id) => [id, {}])), null, 2);
    }
    panel.scrollIntoView({ behavior: 'smooth', block: 'start' });
    variables.focus();
  });
  close.addEventListener('click', () => {
    panel.hidden = true;
    clearMarks();
  });

  run.addEventListener('click', async () => {
    const vars = parseJson(variables.value, t);
    const given = parseJson(answers.value, t);
    if (vars.error || given.error) {
      result.replaceChildren(el('p', { class: 'error' }, vars.error || given.error));
      return;
    }
    clearMarks();
    result.replaceChildren(el('p', {}, t('trialRunning')));
    const response = await api('POST', '/designer/trial-run',
      { xml: await currentXml(), variables: vars.value, answers: given.value });
    if (response.status === 422 && response.data.error.details && response.data.error.details.problems) {
      result.replaceChildren(el('ul', { class: 'error' }, ...response.data.error.details.problems.map(
        (p) => el('li', {}, `${p.element_id ? `${elementName(modeler, p.element_id, lang)}: ` : ''}${p.message}`))));
      return;
    }
    if (!response.ok) {
      const message = response.data && response.data.error ? response.data.error.message : `HTTP ${response.status}`;
      result.replaceChildren(el('p', { class: 'error' }, message));
      return;
    }
    show(response.data);
  });

  function show(run) {
    for (const id of Object.keys(run.visited)) mark(id, 'cf-visited');
    for (const id of run.current) mark(id, 'cf-current');
    for (const id of run.failed) mark(id, 'cf-problem');
    if (run.error_element && !run.failed.includes(run.error_element)) mark(run.error_element, 'cf-problem');
    const parts = [el('p', { id: 'trial-status', 'data-status': run.status, class: run.status === 'error' ? 'error' : 'ok' },
      `${t('trialStatus')}: ${t(`trial_${run.status}`)}`)];
    if (run.error) {
      parts.push(el('p', { class: 'error', id: 'trial-error' }, t('trialError', {
        element: run.error_element ? elementName(modeler, run.error_element, lang) : '—', message: run.error })));
    }
    if (run.current.length) {
      parts.push(el('p', {}, `${t('trialWaitsIn')}: ${run.current.map((id) => elementName(modeler, id, lang)).join('、')}`));
    }
    if (run.simulated_handlers.length) {
      parts.push(el('p', { class: 'muted' }, t('trialSimulated', { names: run.simulated_handlers.join(', ') })));
    }
    const steps = run.path.map((id) => [id, run.visited[id]]).map(([id, n]) => el('tr', { 'data-element': id },
      el('td', {}, elementName(modeler, id, lang)), el('td', {}, String(n))));
    parts.push(el('div', { class: 'trial-columns' },
      el('div', {}, el('h4', {}, t('trialPath')), el('table', { id: 'trial-path' },
        el('tr', {}, el('th', {}, t('trialElement')), el('th', {}, t('trialTimes'))), ...steps)),
      el('div', {}, el('h4', {}, t('trialTasks')), run.tasks.length
        ? el('ol', { id: 'trial-tasks' }, ...run.tasks.map((task) => el('li', {}, elementName(modeler, task.element_id, lang))))
        : el('p', { class: 'muted' }, t('trialNoTasks'))),
      el('div', {}, el('h4', {}, t('trialVariablesEnd')), el('dl', { id: 'trial-variables-end' },
        ...Object.entries(run.variables).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, JSON.stringify(v))])))));
    result.replaceChildren(...parts);
  }
}
