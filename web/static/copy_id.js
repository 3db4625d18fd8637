// "copy id" next to an entry's id: shown only where the clipboard can be written.
(function () {
  "use strict";
  if (!navigator.clipboard) {
    return;
  }
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(button.dataset.copy).then(function () {
        button.textContent = "copied";
        setTimeout(function () { button.textContent = "copy id"; }, 1500);
      });
    });
  });
})();
