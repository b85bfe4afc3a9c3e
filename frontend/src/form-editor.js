// The form editor (form-js) for the forms processes name by formKey; saved as drafts and deployed
// with the next process version that names them (the server validates them: engine/forms.py).
import { FormEditor } from '@bpmn-io/form-js';
import { api, pageData } from './api.js';
import { paletteModule, translatePalette } from './form-palette.js';
import { translateFormEditor } from './form-editor-zh.js';

const data = pageData();
const MESSAGES = data.messages || {};
const editor = new FormEditor({ container: '#form-editor', additionalModules: [paletteModule(t, data.schema)] });
window.careflowFormEditor = editor;
translatePalette(document.getElementById('form-editor'), t);
if ((data.lang || 'zh') === 'zh') translateFormEditor(document.getElementById('form-editor'));
let revision = data.revision ?? null;
const status = document.getElementById('status');
// Unsaved edits: any change in the editor, until the draft is saved; leaving asks first.
let dirty = false;

function t(name, values = {}) {
  return (MESSAGES[name] || name).replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

editor.importSchema(data.schema).then(() => {
  document.body.dataset.formEditorReady = '1';
  editor.on('changed', () => { dirty = true; });
}).catch((error) => {
  status.textContent = `${t('cannotOpen')} ${error.message}`;
});

document.getElementById('save-form').addEventListener('click', async () => {
  const schema = editor.saveSchema();
  schema.id = data.form_id;
  const response = await api('PUT', `/designer/drafts/form/${encodeURIComponent(data.form_id)}`, {
    content: JSON.stringify(schema, null, 2), revision,
  });
  if (response.ok) {
    revision = response.data.revision;
    dirty = false;
    status.textContent = t('saved', { n: revision });
  } else {
    status.textContent = response.data.error.message;
  }
});

const discard = document.getElementById('discard-form-draft');
if (discard) {
  discard.addEventListener('click', async () => {
    if (!window.confirm(t('confirmDiscard'))) return;
    const response = await api('DELETE', `/designer/drafts/form/${encodeURIComponent(data.form_id)}`);
    if (!response.ok && response.status !== 404) {
      status.textContent = response.data && response.data.error ? response.data.error.message : `HTTP ${response.status}`;
      return;
    }
    dirty = false;
    status.textContent = t('discarded');
    window.location.reload();
  });
}

window.addEventListener('beforeunload', (event) => {
  if (!dirty) return undefined;
  event.preventDefault();
  event.returnValue = '';
  return '';
});
