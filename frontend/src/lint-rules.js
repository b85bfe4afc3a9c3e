// Reading CareFlow's extension properties from a diagram element (the properties panel uses it). The
// problem list itself comes from the engine (server-lint.js): no client-side rule second-guesses it.

function spiffChild(node, type) {
  const values = (node.extensionElements && node.extensionElements.values) || [];
  return values.find((v) => v.$type === type);
}

export function propertyOf(node, name) {
  const holder = spiffChild(node, 'spiffworkflow:Properties');
  const found = holder && (holder.values || []).find((p) => p.name === name);
  return found ? found.value : undefined;
}
