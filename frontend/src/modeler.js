// The process modeler: bpmn-js with the properties panel (CareFlow group), the engine's problems while
// drawing (server-lint.js, through bpmn-js-bpmnlint), drafts, and validate/deploy through the engine.
import Modeler from 'bpmn-js/lib/Modeler';
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel';
import lintModule from 'bpmn-js-bpmnlint';
import spiffworkflow from './spiffworkflow.json';
import careflowI18n from './careflow-i18n.json';
import careflowProperties from './careflow-properties.js';
import { lintConfig, installServerLint } from './server-lint.js';
import { api, el, pageData } from './api.js';
import { setupSimulation, tokenSimulationModule } from './simulation.js';
import { previewAndConfirm } from './deploy-dialog.js';
import { setupTrialRun } from './trial-run.js';
import { nameEnModule } from './handler-field.js';
import { zhTranslateModule } from './bpmn-zh.js';

const data = pageData();
const modeler = new Modeler({
  container: '#canvas',
  propertiesPanel: { parent: '#properties' },
  additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, careflowProperties, lintModule,
    tokenSimulationModule, nameEnModule, ...((data.lang || 'zh') === 'zh' ? [zhTranslateModule] : [])],
  moddleExtensions: { spiffworkflow, careflow: careflowI18n },
  careflow: { handlers: data.handlers || [], messages: data.messages || {}, lang: data.lang || 'zh' },
  linting: { bpmnlint: lintConfig, active: true },
});
window.careflowModeler = modeler;

const status = document.getElementById('status');
const problemList = document.getElementById('problems');
let draftRevision = data.draft_revision ?? null;
let serverLint = null;  // the engine's problems while editing (server-lint.js)
let marked = [];
// Unsaved edits: set by any change on the diagram, cleared by a saved draft or a deploy; leaving asks first.
let dirty = false;
const MESSAGES = data.messages || {};

function t(name, values = {}) {
  return (MESSAGES[name] || name).replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

function say(text, kind = '') {
  status.textContent = text;
  status.className = `designer-status ${kind}`;
}

function clearProblems() {
  const canvas = modeler.get('canvas');
  const overlays = modeler.get('overlays');
  for (const id of marked) {
    canvas.removeMarker(id, 'cf-problem');
  }
  overlays.remove({ type: 'cf-problem' });
  marked = [];
  problemList.replaceChildren();
}

function showProblems(problems) {
  clearProblems();
  const registry = modeler.get('elementRegistry');
  const canvas = modeler.get('canvas');
  for (const problem of problems) {
    const where = [problem.file, problem.line ? t('line', { n: problem.line }) : null, problem.element_id]
      .filter(Boolean).join(' · ');
    const item = el('li', { 'data-element-id': problem.element_id || '', 'data-severity': problem.severity || 'error' },
      `${where}: ${problem.message}`);
    const shape = problem.element_id && registry.get(problem.element_id);
    if (shape) {
      if (!marked.includes(shape.id)) {
        canvas.addMarker(shape.id, 'cf-problem');  // the badge is bpmn-js-bpmnlint's (server-lint.js)
        marked.push(shape.id);
      }
      item.addEventListener('click', () => {
        modeler.get('selection').select(shape);
        canvas.scrollToElement(shape);
      });
    }
    problemList.append(item);
  }
}

async function currentXml() {
  const { xml } = await modeler.saveXML({ format: true });
  return xml;
}

async function saveDraft() {
  const key = processKey();
  const response = await api('PUT', `/designer/drafts/process/${encodeURIComponent(key)}`, {
    content: await currentXml(), base_version: data.base_version ?? null, revision: draftRevision,
  });
  if (response.ok) {
    draftRevision = response.data.revision;
    dirty = false;
    say(t('draftSaved', { n: draftRevision }), 'ok');
  } else {
    say(response.data.error.message, 'error');
  }
}

function processKey() {
  const definitions = modeler.getDefinitions();
  const process = definitions.rootElements.find((e) => e.$type === 'bpmn:Process' && e.isExecutable)
    || definitions.rootElements.find((e) => e.$type === 'bpmn:Process');
  return process ? process.id : data.key;
}

async function send(validateOnly) {
  const xml = await currentXml();
  let confirmation = null;
  if (!validateOnly) {  // the summary first: diff, live instances, migration dry run, second person (deploy-dialog.js)
    say(t('previewing'));
    const decision = await previewAndConfirm(document.getElementById('deploy-dialog'), xml, t);
    if (decision && decision.problems) {
      showProblems(decision.problems);
      say(t('problems', { n: decision.problems.length }), 'error');
      return;
    }
    if (decision && decision.error) {
      say(decision.error, 'error');
      return;
    }
    if (!decision) {
      say('');
      return;
    }
    confirmation = decision.confirmation;
  }
  say(validateOnly ? t('validating') : t('deploying'));
  const query = validateOnly ? '?validate_only=1' : '';
  const response = await api('POST', `/designer/deploy${query}`, confirmation ? { xml, confirmation } : { xml });
  if (response.status === 409 && response.data && response.data.error && response.data.error.code === 'confirmation_stale') {
    say(t('stale'), 'error');
    return;
  }
  if (response.status === 422) {
    const problems = response.data.error.details.problems || [];
    showProblems(problems);
    say(t('problems', { n: problems.length }), 'error');
    return;
  }
  if (!response.ok) {
    say(response.data && response.data.error ? response.data.error.message : `HTTP ${response.status}`, 'error');
    return;
  }
  clearProblems();
  if (response.status === 202) {  // live instances run this process: a second person approves the new version
    const id = response.data.approval_id;
    dirty = false;
    say(t('waiting', { id }), 'ok');
    document.getElementById('deployed').replaceChildren(
      el('a', { href: '/approvals', id: 'approval-link' }, `#${id} →`));
  } else if (validateOnly) {
    showProblems(response.data.problems || []);  // warnings do not block a deploy
    say(t('valid'), 'ok');
  } else {
    const { key, version, created } = response.data;
    data.base_version = version;
    draftRevision = null;
    dirty = false;
    say(created ? t('deployed', { n: version }) : t('same', { n: version }), 'ok');
    document.getElementById('deployed').replaceChildren(
      el('a', { href: `/designer/processes/${encodeURIComponent(key)}`, id: 'deployed-link' },
        `${key} v${version} →`));
  }
}

async function download() {
  const blob = new Blob([await currentXml()], { type: 'application/xml' });
  const link = el('a', { href: URL.createObjectURL(blob), download: `${processKey()}.bpmn` });
  link.click();
}

document.getElementById('save-draft').addEventListener('click', saveDraft);
document.getElementById('validate').addEventListener('click', () => send(true));
document.getElementById('deploy').addEventListener('click', () => send(false));
document.getElementById('download').addEventListener('click', download);

async function discardDraft() {
  if (!window.confirm(t('confirmDiscard'))) return;
  const response = await api('DELETE', `/designer/drafts/process/${encodeURIComponent(data.key)}`);
  if (!response.ok && response.status !== 404) {
    say(response.data && response.data.error ? response.data.error.message : `HTTP ${response.status}`, 'error');
    return;
  }
  dirty = false;
  say(t('discarded'), 'ok');
  window.location.assign(`/designer/modeler/${encodeURIComponent(data.key)}?fresh=1`);
}

const discard = document.getElementById('discard-draft');
if (discard) discard.addEventListener('click', discardDraft);

window.addEventListener('beforeunload', (event) => {
  if (!dirty) return undefined;
  event.preventDefault();
  event.returnValue = '';
  return '';
});

modeler.importXML(data.xml).then(({ warnings }) => {
  modeler.get('canvas').zoom('fit-viewport');
  document.body.dataset.modelerReady = '1';
  modeler.on('commandStack.changed', () => { dirty = true; });
  serverLint = installServerLint(modeler, { api, lineLabel: (n) => t('line', { n }), onProblems: showProblems });
  serverLint.check();
  setupSimulation(modeler, document.getElementById('token-simulation'), t);
  const trialButton = document.getElementById('trial-run');
  if (trialButton && !trialButton.hidden) {
    setupTrialRun({ modeler, panel: document.getElementById('trial-panel'), button: trialButton, currentXml, t,
      lang: data.lang || 'zh' });
  }
  if (warnings.length) {
    say(`${t('importWarnings')} ${warnings.map((w) => w.message).join('; ')}`, 'error');
  }
}).catch((error) => {
  say(`${t('cannotOpen')} ${error.message}`, 'error');
});
