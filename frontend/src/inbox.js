// The inbox and the supervisor desk: keyboard shortcuts over the task list, and live updates by short polling.
//
// Keys (not while typing in a field): j / k move through the tasks, Enter opens the current one, c claims it,
// x ticks it for a bulk action; "/" (ui.js) jumps to the search box.
// Live: every POLL_MS the page asks its [data-live-url] for the list's version (a quick JSON answer; no request is
// held open, so the server's few workers stay free). When the version changed, the page fetches itself and swaps
// its [data-live-part] regions, unless the person is in the middle of something (a ticked box, a field with focus):
// then it only says that new work is there. The bell's number follows every answer.

const POLL_MS = 15000;

function typing() {
  const active = document.activeElement;
  return !!active && (active.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName));
}

// --- keyboard ----------------------------------------------------------------------------------------------------

function rows() {
  return Array.from(document.querySelectorAll('#task-list tr[data-task]'));
}

let current = -1;

function select(index) {
  const all = rows();
  if (!all.length) return;
  current = Math.max(0, Math.min(index, all.length - 1));
  all.forEach((row, i) => {
    row.classList.toggle('table-active', i === current);
    if (i === current) row.setAttribute('aria-current', 'true');
    else row.removeAttribute('aria-current');
  });
  const link = all[current].querySelector('a.task-link');
  if (link) link.focus();
}

function currentRow() {
  const all = rows();
  const focused = document.activeElement && document.activeElement.closest('tr[data-task]');
  if (focused) current = all.indexOf(focused);
  return all[current];
}

document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || typing() || !document.getElementById('task-list')) return;
  const key = event.key;
  if (key === 'j' || key === 'k') {
    event.preventDefault();
    const row = currentRow();
    const at = row ? rows().indexOf(row) : -1;
    select(key === 'j' ? at + 1 : Math.max(at - 1, 0));
  } else if (key === 'c') {
    const row = currentRow();
    const claim = row && row.querySelector('form.claim-form');
    if (claim) {
      event.preventDefault();
      claim.requestSubmit();
    }
  } else if (key === 'x') {
    const box = currentRow() && currentRow().querySelector('input[type=checkbox]');
    if (box) {
      event.preventDefault();
      box.checked = !box.checked;
    }
  } else if (key === 'Enter') {
    const row = currentRow();
    const link = row && row.querySelector('a.task-link');
    if (link && document.activeElement !== link) {
      event.preventDefault();
      link.click();
    }
  }
});

// --- live updates ----------------------------------------------------------------------------------------------

function setBell(unread) {
  const badge = document.getElementById('bell-count');
  if (!badge || typeof unread !== 'number') return;
  badge.textContent = String(unread);
  badge.dataset.count = String(unread);
  badge.classList.toggle('breach', unread > 0);
  const bell = document.getElementById('bell');
  if (bell) bell.setAttribute('aria-label', bell.getAttribute('aria-label').replace(/\d+$/, String(unread)));
}

function busy(root) {
  return !!root.querySelector('input[type=checkbox]:checked') || (typing() && root.contains(document.activeElement));
}

async function refresh(root) {
  const response = await fetch(window.location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } });
  if (!response.ok) return false;
  const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
  const selected = current;
  root.querySelectorAll('[data-live-part]').forEach((part) => {
    const replacement = fresh.querySelector(`[data-live-part="${part.dataset.livePart}"]`);
    if (replacement) part.innerHTML = replacement.innerHTML;
  });
  const freshRoot = fresh.getElementById(root.id);
  if (freshRoot && freshRoot.dataset.liveVersion) root.dataset.liveVersion = freshRoot.dataset.liveVersion;
  if (selected >= 0 && rows().length) {
    current = Math.min(selected, rows().length - 1);
    rows()[current].classList.add('table-active');
  }
  return true;
}

function startLive(root) {
  const note = document.getElementById('live-note');
  const poll = async () => {
    try {
      const response = await fetch(root.dataset.liveUrl, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (!response.ok) return;
      const state = await response.json();
      setBell(state.unread);
      if (!root.dataset.liveVersion) {
        root.dataset.liveVersion = state.version; // the desk learns its first version from the first answer
      } else if (state.version !== root.dataset.liveVersion) {
        if (busy(root)) {
          if (note) note.textContent = root.dataset.liveBusy || '';
        } else if (await refresh(root)) {
          root.dataset.liveVersion = state.version;
          if (note) note.textContent = root.dataset.liveUpdated || '';
        }
      }
    } catch (error) {
      // offline for a moment: try again at the next poll
    }
  };
  poll();
  window.setInterval(() => {
    if (!document.hidden) poll();
  }, Number(window.CAREFLOW_POLL_MS) || POLL_MS); // tests shorten the wait
}

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('[data-live-url]').forEach(startLive);
});
