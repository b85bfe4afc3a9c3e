// bpmnlint in the browser: the rules are bundled (esbuild) and looked up by this resolver, as
// bpmnlint-loader would generate it. The server's deploy check stays the authority; these are hints.
import endEventRequired from 'bpmnlint/rules/end-event-required';
import fakeJoin from 'bpmnlint/rules/fake-join';
import labelRequired from 'bpmnlint/rules/label-required';
import noComplexGateway from 'bpmnlint/rules/no-complex-gateway';
import noDisconnected from 'bpmnlint/rules/no-disconnected';
import noDuplicateSequenceFlows from 'bpmnlint/rules/no-duplicate-sequence-flows';
import noImplicitSplit from 'bpmnlint/rules/no-implicit-split';
import noOverlappingElements from 'bpmnlint/rules/no-overlapping-elements';
import singleBlankStartEvent from 'bpmnlint/rules/single-blank-start-event';
import startEventRequired from 'bpmnlint/rules/start-event-required';
import superfluousGateway from 'bpmnlint/rules/superfluous-gateway';
import { userTaskForm, serviceTaskHandler } from './lint-rules.js';

const cache = {
  'bpmnlint/end-event-required': endEventRequired,
  'bpmnlint/fake-join': fakeJoin,
  'bpmnlint/label-required': labelRequired,
  'bpmnlint/no-complex-gateway': noComplexGateway,
  'bpmnlint/no-disconnected': noDisconnected,
  'bpmnlint/no-duplicate-sequence-flows': noDuplicateSequenceFlows,
  'bpmnlint/no-implicit-split': noImplicitSplit,
  'bpmnlint/no-overlapping-elements': noOverlappingElements,
  'bpmnlint/single-blank-start-event': singleBlankStartEvent,
  'bpmnlint/start-event-required': startEventRequired,
  'bpmnlint/superfluous-gateway': superfluousGateway,
  'bpmnlint-plugin-careflow/user-task-form': userTaskForm,
  'bpmnlint-plugin-careflow/service-task-handler': serviceTaskHandler,
};

const resolver = {
  resolveRule(pkg, ruleName) {
    const rule = cache[`${pkg}/${ruleName}`];
    if (!rule) {
      throw new Error(`cannot resolve rule <${pkg}/${ruleName}>`);
    }
    return rule;
  },
  resolveConfig(pkg, configName) {
    throw new Error(`cannot resolve config <${configName}> in <${pkg}>`);
  },
};

const config = {
  rules: {
    'end-event-required': 'error',
    'start-event-required': 'error',
    'no-complex-gateway': 'error',
    'no-disconnected': 'error',
    'no-duplicate-sequence-flows': 'error',
    'single-blank-start-event': 'error',
    'fake-join': 'warn',
    'label-required': 'warn',
    'no-implicit-split': 'warn',
    'no-overlapping-elements': 'warn',
    'superfluous-gateway': 'warn',
    'careflow/user-task-form': 'warn',
    'careflow/service-task-handler': 'error',
  },
};

export default { config, resolver };
