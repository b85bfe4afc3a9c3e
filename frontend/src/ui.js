// Every staff page: Bootstrap's collapsing menu for narrow screens and wide tables that scroll sideways reachable by
// keyboard ("/" for the global search is web/static/js/search.js).
import Collapse from 'bootstrap/js/dist/collapse';

// On a phone a wide table scrolls sideways (theme.scss); a keyboard user must be able to focus it to scroll it.
function focusableScrollers() {
  document.querySelectorAll('main table').forEach((table) => {
    if (table.scrollWidth > table.clientWidth + 1) table.setAttribute('tabindex', '0');
    else if (table.getAttribute('tabindex') === '0') table.removeAttribute('tabindex');
  });
}

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('[data-bs-toggle="collapse"]').forEach((toggle) => {
    const target = document.querySelector(toggle.getAttribute('data-bs-target'));
    if (target) Collapse.getOrCreateInstance(target, { toggle: false });
  });
  focusableScrollers();
});
window.addEventListener('resize', focusableScrollers);

// A "print" button (the CSP allows no inline handlers): <button type="button" data-print>.
document.addEventListener('click', (event) => {
  if (event.target instanceof Element && event.target.closest('[data-print]')) window.print();
});

