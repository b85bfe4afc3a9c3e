// Token simulation in the modeler (bpmn-js-token-simulation): the designer plays tokens through the diagram
// to see which paths a model allows, without the engine. Toggled from CareFlow's toolbar (the library's own
// "Token Simulation" switch is hidden by careflow.css); the library writes its labels in English, so the texts
// it puts on the canvas are replaced by the page's language (the messages the page hands over).
import TokenSimulationModule from 'bpmn-js-token-simulation';

export const tokenSimulationModule = TokenSimulationModule;

// The library's fixed English texts → message names of the page (modeler_messages in web/designer.py).
const TITLES = {
  'Toggle Simulation Log': 'simLog',
  'Reset Simulation': 'simReset',
  'Play/Pause Simulation': 'simPause',
  'Set Sequence Flow': 'simSetFlow',
  'Add pause point': 'simAddPause',
  'Remove pause point': 'simRemovePause',
  'Trigger Event': 'simTrigger',
  Close: 'simClose',
};
const TEXTS = {
  'Simulation Log': 'simLogTitle',
  'No Entries': 'simNoEntries',
  'Found unsupported elements': 'simUnsupported',
  'Not supported': 'simNotSupported',
  'Process started': 'simProcessStarted',
  'Process finished': 'simProcessFinished',
  'Process canceled': 'simProcessCanceled',
};
const SUFFIXES = [[' started', 'simStarted'], [' finished', 'simFinished'], [' canceled', 'simCanceled']];

function translateNode(root, t) {
  for (const node of root.querySelectorAll('[title], [aria-label]')) {
    for (const attr of ['title', 'aria-label']) {
      const value = node.getAttribute(attr);
      if (!value) continue;
      if (TITLES[value]) node.setAttribute(attr, t(TITLES[value]));
      const speed = value.match(/^Set animation speed = (.+)$/);
      if (speed) node.setAttribute(attr, t('simSpeed', { speed: speed[1] }));
      if (TEXTS[value]) node.setAttribute(attr, t(TEXTS[value]));
    }
  }
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) texts.push(walker.currentNode);
  for (const text of texts) {
    const value = text.nodeValue.trim();
    if (!value) continue;
    if (TEXTS[value]) {
      text.nodeValue = t(TEXTS[value]);
      continue;
    }
    for (const [suffix, name] of SUFFIXES) {
      if (value.endsWith(suffix) && value.length > suffix.length) {
        text.nodeValue = t(name, { name: value.slice(0, -suffix.length) });
      }
    }
  }
}

/** Wire the toolbar button to the simulation and keep the library's labels in the page's language. */
export function setupSimulation(modeler, button, t) {
  const toggleMode = modeler.get('toggleMode');
  const container = modeler.get('canvas').getContainer();
  let busy = false;
  const observer = new MutationObserver(() => {
    if (busy) return;
    busy = true;
    try {
      translateNode(container, t);
    } finally {
      busy = false;
    }
  });
  observer.observe(container, { childList: true, subtree: true, characterData: true, attributes: true,
    attributeFilter: ['title'] });
  translateNode(container, t);

  modeler.on('tokenSimulation.toggleMode', ({ active }) => {
    button.setAttribute('aria-pressed', active ? 'true' : 'false');
    button.textContent = active ? t('simStop') : t('simStart');
    document.body.dataset.simulation = active ? 'on' : 'off';
    for (const id of ['save-draft', 'validate', 'deploy', 'trial-run']) {
      const other = document.getElementById(id);
      if (other) other.disabled = active;  // the diagram cannot be edited while tokens run
    }
  });
  button.textContent = t('simStart');
  button.setAttribute('aria-pressed', 'false');
  button.addEventListener('click', () => toggleMode.toggleMode());
  return toggleMode;
}
