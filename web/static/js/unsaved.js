// Unsaved edits are not lost by accident: while something typed inside an element marked data-unsaved has not
// been sent, leaving the page (a link, reload, another form's button) asks first. Sending that element's own
// form ends the warning for it; a submit that another script cancels (a declined confirmation) keeps it.
(function () {
  var dirty = new Set();
  function area(target) { return target && target.closest ? target.closest('[data-unsaved]') : null; }
  function touched(event) { var found = area(event.target); if (found) dirty.add(found); }
  document.addEventListener('input', touched);
  document.addEventListener('change', touched);
  document.addEventListener('submit', function (event) {
    var found = area(event.target);
    if (!found || !dirty.has(found)) return;
    dirty.delete(found);
    setTimeout(function () { if (event.defaultPrevented) dirty.add(found); }, 0);
  });
  window.addEventListener('beforeunload', function (event) {
    if (dirty.size === 0) return undefined;
    event.preventDefault();
    event.returnValue = '';
    return '';
  });
})();
