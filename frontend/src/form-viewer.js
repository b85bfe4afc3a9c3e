// The task form, shown by form-js: progressive enhancement of the server-rendered form (web/templates/task.html).
//
// The page carries the deployed schema (in the page's language), the values to show, the server's messages by
// field path (after a rejected submit) and whether the form is read-only. form-js draws the form and checks it
// in the browser; on submit its data travels as JSON in the server form's hidden `careflow_form_json`, and the
// server validates it exactly as it validates a plain post (web/inbox.py). A draft goes the same way, unchecked. Without scripts, or if form-js fails
// to draw, the server-rendered fields stay in place.
import { Form } from '@bpmn-io/form-js';

// A data field's path ("key", or "group.key" inside a group with a path) → its component id, which is how
// form-js keys its errors.
function idsByPath(components, prefix = '', ids = {}) {
  for (const component of components || []) {
    if (component.type === 'group') {
      idsByPath(component.components, component.path ? `${prefix}${component.path}.` : prefix, ids);
    } else if (component.key) {
      ids[prefix + component.key] = component.id;
    }
  }
  return ids;
}

// form-js's own checks speak English only; say them as the server does, in the page's language
// (`messages` is engine/forms.py's table for it).
const MESSAGES = [
  [/^Field is required\.$/, 'required'],
  [/^Field must have minimum value of (.+)\.$/, 'min', 'min'],
  [/^Field must have maximum value of (.+)\.$/, 'max', 'max'],
  [/^Field must have minimum length of (.+)\.$/, 'length_min', 'min'],
  [/^Field must have maximum length of (.+)\.$/, 'length_max', 'max'],
  [/^Value is not a number\.$/, 'number'],
  [/^Value is expected to have at most (\d+) decimal/, 'digits', 'digits'],
  [/^Field must match pattern/, 'pattern'],
  [/^Field must be a valid email\.$/, 'email'],
];

function translated(message, messages) {
  for (const [pattern, key, placeholder] of MESSAGES) {
    const found = message.match(pattern);
    if (found && messages[key]) return placeholder ? messages[key].replace(`{${placeholder}}`, found[1]) : messages[key];
  }
  return message;
}

async function enhance(holder) {
  const source = document.getElementById(holder.dataset.formJsViewer);
  const serverForm = document.getElementById(holder.dataset.serverForm);
  if (!source || !serverForm) return;
  const { schema, data, errors, messages, readOnly } = JSON.parse(source.textContent);
  // debounce: false — every keystroke reaches the form's data at once, so a submit straight after typing
  // (the press below keeps the field focused) sends what was typed.
  const form = new Form({ container: holder, properties: { readOnly: Boolean(readOnly) }, debounce: false });
  const validator = form.get('validator');
  const check = validator.validateFieldInstance.bind(validator);
  validator.validateFieldInstance = (...args) => check(...args).map((message) => translated(message, messages || {}));
  await form.importSchema(schema, data || {});

  const ids = idsByPath(schema.components);
  const serverErrors = {};
  for (const [path, messages] of Object.entries(errors || {})) {
    if (ids[path]) serverErrors[ids[path]] = messages;
  }
  // form-js has no public way to show messages found elsewhere; its own validate() sets them the same way.
  if (Object.keys(serverErrors).length) form._setState({ errors: serverErrors });

  const json = serverForm.querySelector('input[name="careflow_form_json"]');
  // Pressing the submit button must not blur the field being edited first: form-js checks a field when it
  // loses focus, its message pushes the button down, and the press would end beside it, submitting nothing.
  for (const button of serverForm.querySelectorAll('button[type="submit"]')) {
    button.addEventListener('mousedown', (event) => event.preventDefault());
  }
  serverForm.addEventListener('submit', (event) => {
    if (event.submitter?.dataset.draft) {
      // "Save draft": what is there so far, unchecked (the server keeps it for this user, web/inbox.py).
      json.value = JSON.stringify(form._getState().data);
      json.disabled = false;
      return;
    }
    const result = form.submit();
    if (Object.keys(result.errors).length) {
      event.preventDefault(); // form-js now shows each message under its field
      holder.querySelector('.fjs-has-errors input, .fjs-has-errors textarea, .fjs-has-errors select')?.focus();
      return;
    }
    json.value = JSON.stringify(result.data);
    json.disabled = false;
  });
  serverForm.classList.add('enhanced');
  holder.dataset.ready = '1';
}

for (const holder of document.querySelectorAll('[data-form-js-viewer]')) {
  enhance(holder).catch((error) => {
    // The server-rendered fields stay usable.
    console.error('form-js could not show the task form', error);
    holder.remove();
  });
}
