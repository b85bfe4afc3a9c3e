// One truth for validation: the modeler's problem list is the engine's. As the designer edits, the diagram
// is posted (debounced) to the validate endpoint, and the problems the server finds — the same checks a
// deploy runs — are reported through bpmn-js-bpmnlint (its button, panel and overlays) by two bpmnlint
// rules that only relay them: careflow/server-error and careflow/server-warning.
//
// Stock bpmnlint rules are not used: several disagree with the engine. no-disconnected, for one, reads a
// flow node's <bpmn:incoming>/<bpmn:outgoing> children, which BPMN makes optional (the flows' sourceRef and
// targetRef say it all) and CareFlow's files leave out, so it flagged every element of the working
// complaint_handling (73 of its "74 Errors"). The engine checks connections itself (engine/bpmn/validation.py).

const DEBOUNCE_MS = 800;
let current = { problems: [], processId: null, lineLabel: (n) => `line ${n}` };

function describe(problem) {
  const where = [problem.file, problem.line ? current.lineLabel(problem.line) : null].filter(Boolean).join(' · ');
  return where ? `${problem.message} (${where})` : problem.message;
}

function relay(severity) {
  return function rule() {
    function check(node, reporter) {
      if (node.$type !== 'bpmn:Definitions') return;
      const process = (node.rootElements || []).find((e) => e.$type === 'bpmn:Process' && e.isExecutable)
        || (node.rootElements || []).find((e) => e.$type === 'bpmn:Process');
      for (const problem of current.problems) {
        if ((problem.severity || 'error') === severity) {
          // bpmn-js-bpmnlint shows a problem of an element not on the canvas (or of none) on the process
          reporter.report(problem.element_id || (process && process.id) || node.id, describe(problem));
        }
      }
    }
    return { check };
  };
}

const rules = { 'server-error': relay('error'), 'server-warning': relay('warning') };

export const lintConfig = {
  config: { rules: { 'careflow/server-error': 'error', 'careflow/server-warning': 'warn' } },
  resolver: {
    resolveRule(pkg, ruleName) {
      const rule = pkg === 'bpmnlint-plugin-careflow' && rules[ruleName];
      if (!rule) throw new Error(`cannot resolve rule <${pkg}/${ruleName}>`);
      return rule;
    },
    resolveConfig(pkg, configName) {
      throw new Error(`cannot resolve config <${configName}> in <${pkg}>`);
    },
  },
};

// Ask the server about the diagram now and then after every change (debounced). ``onProblems`` gets each
// answer's problems (for the page's own list); an unreachable server leaves the last answer in place.
export function installServerLint(modeler, { api, lineLabel, onProblems, onError }) {
  if (lineLabel) current.lineLabel = lineLabel;
  const linting = modeler.get('linting');
  let timer = null;
  let asked = 0;

  async function check() {
    const mine = ++asked;
    const { xml } = await modeler.saveXML({ format: true });
    const response = await api('POST', '/designer/deploy?validate_only=1', { xml });
    if (mine !== asked) return;  // a newer edit is on its way
    let problems;
    if (response.ok) {
      problems = response.data.problems || [];
    } else if (response.status === 422 && response.data && response.data.error) {
      problems = response.data.error.details.problems || [];
    } else {
      if (onError) onError(response);
      return;
    }
    current = { ...current, problems };
    linting.update();
    document.body.dataset.serverLint = String(mine);
    if (onProblems) onProblems(problems);
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(check, DEBOUNCE_MS);
  }

  modeler.on('commandStack.changed', schedule);
  return { check, schedule };
}
