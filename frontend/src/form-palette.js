// The form editor's palette limited to what the engine supports (engine/forms.py, the task form renderer
// web/formrender.py: inputs, choices, groups, texts, spacers and separators) and named in the page's language.
// form-js builds its palette from the form field registry when the editor first renders, so this module removes
// the other types from the registry before that (a type the opened form already uses stays, so it still renders)
// and renames the rest; the palette's own fixed English texts are replaced as they are drawn.

// type → message name (form_editor's messages in web/designer.py)
export const SUPPORTED = {
  textfield: 'fieldTextfield', textarea: 'fieldTextarea', number: 'fieldNumber', checkbox: 'fieldCheckbox',
  datetime: 'fieldDatetime', select: 'fieldSelect', radio: 'fieldRadio', checklist: 'fieldChecklist',
  taglist: 'fieldTaglist', group: 'fieldGroup', text: 'fieldText', spacer: 'fieldSpacer', separator: 'fieldSeparator',
};
const TEXTS = {
  Components: 'paletteTitle', Input: 'groupInput', Selection: 'groupSelection', Presentation: 'groupPresentation',
  Containers: 'groupContainers', Action: 'groupAction', 'No components found.': 'paletteEmpty',
};

export function usedTypes(schema) {
  const found = new Set();
  const walk = (components) => {
    for (const component of components || []) {
      found.add(component.type);
      walk(component.components);
    }
  };
  walk(schema && schema.components);
  return found;
}

export function paletteModule(t, schema) {
  const keep = usedTypes(schema);
  function CareflowPalette(formFields) {
    for (const type of Object.keys(formFields._formFields)) {
      if (type === 'default') continue;
      const field = formFields._formFields[type];
      if (!SUPPORTED[type]) {
        if (!keep.has(type)) delete formFields._formFields[type];
      } else if (field && field.config) {
        field.config = { ...field.config, name: t(SUPPORTED[type]), label: t(SUPPORTED[type]) };
      }
    }
  }
  CareflowPalette.$inject = ['formFields'];
  return { __init__: ['careflowPalette'], careflowPalette: ['type', CareflowPalette] };
}

/** Replace the palette's fixed English texts (title, groups, search) with the page's language, as it redraws. */
export function translatePalette(container, t) {
  const apply = () => {
    for (const node of container.querySelectorAll('.fjs-palette-header, .fjs-palette-group-title, .fjs-palette-no-entries')) {
      for (const child of node.childNodes) {  // the text node itself: preact keeps and updates it
        const name = child.nodeType === Node.TEXT_NODE && TEXTS[child.nodeValue.trim()];
        // only a change: writing the same text is a mutation too, and on an English page (where the text is the
        // same) the observer answered its own write for ever and the page hung
        if (name && child.nodeValue !== t(name)) child.nodeValue = t(name);
      }
      if (TEXTS[node.getAttribute('title')]) node.setAttribute('title', t(TEXTS[node.getAttribute('title')]));
    }
    for (const input of container.querySelectorAll('.fjs-palette-search')) {
      if (input.getAttribute('placeholder') === 'Search components') input.setAttribute('placeholder', t('paletteSearch'));
    }
    for (const button of container.querySelectorAll('.fjs-palette-field[title^="Create "]')) {
      button.setAttribute('title', button.textContent.trim());
    }
  };
  new MutationObserver(apply).observe(container, { childList: true, subtree: true, characterData: true });
  apply();
}
