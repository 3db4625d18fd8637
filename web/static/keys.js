// Keyboard: "/" puts the cursor in the header's search box, unless the person is typing
// somewhere already (a field, a select, an editable area) or holds a modifier key.
(function () {
  "use strict";
  const search = document.querySelector(".top-search input[name=q]");
  if (!search) return;

  function typingSomewhere(target) {
    if (!(target instanceof Element)) return false;
    return target.isContentEditable || target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.defaultPrevented || typingSomewhere(event.target)) return;
    event.preventDefault();  // or the "/" would be typed into the box
    search.focus();
    search.select();
  });
})();
