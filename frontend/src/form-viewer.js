// Progressive enhancement of a server-rendered task form: form-js's viewer shows the same schema,
// and on submit its values are copied into the server form, which stays the authority
// (web/formrender.py validates and shows the field messages).
import { Form } from '@bpmn-io/form-js';

for (const holder of document.querySelectorAll('[data-form-js-viewer]')) {
  const source = document.getElementById(holder.dataset.formJsViewer);
  const serverForm = document.getElementById(holder.dataset.serverForm);
  if (!source || !serverForm) continue;
  const { schema, data } = JSON.parse(source.textContent);
  const form = new Form({ container: holder });
  form.importSchema(schema, data || {}).then(() => {
    serverForm.classList.add('enhanced');
    holder.dataset.ready = '1';
    serverForm.addEventListener('submit', () => {
      const { data: values } = form.submit();
      for (const [key, value] of Object.entries(values)) {
        const fields = serverForm.querySelectorAll(`[name="${CSS.escape(key)}"]`);
        for (const field of fields) {
          if (field.type === 'checkbox') field.checked = Boolean(value);
          else if (field.type === 'radio') field.checked = String(value) === field.value;
          else field.value = value === null || value === undefined ? '' : String(value);
        }
      }
    });
  });
}
