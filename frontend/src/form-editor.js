// The form editor (form-js) for the forms processes name by formKey; saved as drafts and deployed
// with the next process version that names them (the server validates them: engine/forms.py).
import { FormEditor } from '@bpmn-io/form-js';
import { api, pageData } from './api.js';

const data = pageData();
const editor = new FormEditor({ container: '#form-editor' });
window.careflowFormEditor = editor;
let revision = data.revision ?? null;
const status = document.getElementById('status');

editor.importSchema(data.schema).then(() => {
  document.body.dataset.formEditorReady = '1';
}).catch((error) => {
  status.textContent = `无法打开表单 Cannot open the form: ${error.message}`;
});

document.getElementById('save-form').addEventListener('click', async () => {
  const schema = editor.saveSchema();
  schema.id = data.form_id;
  const response = await api('PUT', `/designer/drafts/form/${encodeURIComponent(data.form_id)}`, {
    content: JSON.stringify(schema, null, 2), revision,
  });
  if (response.ok) {
    revision = response.data.revision;
    status.textContent = `表单草稿已保存 Form draft saved (修订 revision ${revision})；随下次部署生效 deployed with the next process version`;
  } else {
    status.textContent = response.data.error.message;
  }
});
