// The deploy confirmation: before a diagram goes live the designer sees what changes against the live version, how
// many instances are live, which of them could move to the new version (a migration dry run) and whether a second
// person must approve. Confirming hands back the summary's token; the server refuses it when the diagram, its draft
// or the live version changed since (POST /designer/deploy/preview, engine/services/deploy_preview.py).
import { api, el } from './api.js';

const SHOWN_INSTANCES = 20;

function nameOf(change) {
  return change.name || change.element_id;
}

function changeList(title, items, kind) {
  if (!items.length) return null;
  return el('div', { class: `deploy-changes ${kind}`, 'data-change': kind },
    el('strong', {}, `${title} (${items.length})`),
    el('ul', {}, ...items.map((c) => el('li', { 'data-element': c.element_id }, nameOf(c)))));
}

function reasonOf(instance, t) {
  const reasons = [];
  for (const task of instance.tasks || []) {
    if (task.maps) continue;
    const why = (task.reason || '').startsWith('no element') ? 'reasonMissing' : 'reasonKind';
    reasons.push(t(why, { name: task.title || task.element_id }));
  }
  for (const problem of instance.problems || []) {
    reasons.push(problem.startsWith('step ') ? t('reasonTaken') : t('reasonState'));
  }
  return reasons.join('；');
}

function migrationTable(preview, t) {
  const rows = preview.migration.slice(0, SHOWN_INSTANCES).map((m) => el('tr',
    { 'data-instance': m.instance_id, class: m.compatible ? 'ok' : 'blocked' },
    el('td', {}, m.business_key || m.instance_id.slice(0, 8)), el('td', {}, `v${m.from_version}`),
    el('td', {}, m.compatible ? `✓ ${t('canMigrate')}` : `✗ ${t('cannotMigrate')}`),
    el('td', {}, m.compatible ? '' : reasonOf(m, t))));
  const table = el('table', { class: 'deploy-migration' },
    el('tr', {}, el('th', {}, t('instance')), el('th', {}, t('fromVersion')), el('th', {}, t('trialStatus')),
      el('th', {}, t('why'))), ...rows);
  const more = preview.migration.length > SHOWN_INSTANCES
    ? el('p', { class: 'muted' }, t('moreInstances', { n: preview.migration.length - SHOWN_INSTANCES })) : null;
  return el('div', { class: 'table-scroll' }, table, ...(more ? [more] : []));
}

function summary(preview, t) {
  const parts = [];
  parts.push(el('p', { id: 'deploy-versions' }, preview.live_version == null ? t('firstVersion')
    : `${t('liveVersion', { n: preview.live_version })} → ${t('nextVersion', { n: preview.next_version })}`));
  if (preview.identical) {
    parts.push(el('p', { class: 'muted', id: 'deploy-identical' }, t('identical')));
    return parts;
  }
  if (preview.diff) {
    const { added, removed, changed } = preview.diff;
    const lists = [changeList(t('added'), added, 'added'), changeList(t('removed'), removed, 'removed'),
      changeList(t('changed'), changed, 'changed')].filter(Boolean);
    parts.push(el('h4', {}, t('changes')), ...(lists.length ? lists : [el('p', { class: 'muted' }, t('noChanges'))]));
  }
  parts.push(el('p', { id: 'deploy-live' }, t('liveInstances', { n: preview.live_instances, m: preview.live_on_live_version })));
  if (preview.migration.length) {
    parts.push(el('h4', { id: 'deploy-migration-title' },
      t('migrationTitle', { ok: preview.migratable, n: preview.migration.length })), migrationTable(preview, t));
  }
  parts.push(el('p', { class: preview.needs_approval ? 'deploy-approval' : 'muted', id: 'deploy-approval' },
    preview.needs_approval ? t('needsApproval') : t('goesLive')));
  return parts;
}

/**
 * Ask the server what the deploy would do and show it; resolves to { confirmation } when the designer confirms,
 * { problems } when the draft would not deploy, { error } on another refusal, or null when cancelled.
 */
export async function previewAndConfirm(dialog, xml, t) {
  const response = await api('POST', '/designer/deploy/preview', { xml });
  if (response.status === 422) return { problems: response.data.error.details.problems || [] };
  if (!response.ok) {
    return { error: response.data && response.data.error ? response.data.error.message : `HTTP ${response.status}` };
  }
  const preview = response.data;
  return new Promise((resolve) => {
    const finish = (value) => {
      dialog.close();
      resolve(value);
    };
    const confirm = el('button', { type: 'button', id: 'deploy-confirm', class: 'btn btn-primary' },
      preview.needs_approval ? t('confirmApproval') : t('confirm'));
    const cancel = el('button', { type: 'button', id: 'deploy-cancel', class: 'btn btn-outline-secondary' }, t('cancel'));
    confirm.addEventListener('click', () => finish({ confirmation: preview.confirmation, preview }));
    cancel.addEventListener('click', () => finish(null));
    dialog.replaceChildren(
      el('h3', { id: 'deploy-dialog-title' }, `${t('deployTitle')}: ${preview.process_key}`),
      ...summary(preview, t),
      el('div', { class: 'designer-dialog-actions' }, confirm, cancel));
    dialog.addEventListener('cancel', () => resolve(null), { once: true });
    dialog.showModal();
    confirm.focus();
  });
}
