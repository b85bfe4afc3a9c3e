// The header's search box: "/" focuses it from anywhere on a staff page, except while typing in a field.
document.addEventListener("keydown", function (event) {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  var target = event.target;
  if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
  var box = document.getElementById("global-search");
  if (!box) return;
  event.preventDefault();
  box.focus();
  box.select();
});
