// The "Preview" buttons under Markdown fields (web/templates/_preview.html): the text is
// rendered by the server's own renderer (POST /api/preview), so what is shown is what
// will be saved. Pressing again goes back to the text.
(function () {
  "use strict";

  function csrfToken(button) {
    var form = button.closest("form");
    var field = form && form.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  }

  function show(button, field, pane) {
    pane.textContent = "Rendering…";
    pane.hidden = false;
    field.hidden = true;
    button.setAttribute("aria-pressed", "true");
    button.textContent = "Edit";
    fetch("/api/preview", {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrfToken(button)},
      body: JSON.stringify({text: field.value})
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          throw new Error((body.error && body.error.message) || "the preview failed");
        }
        return body;
      });
    }).then(function (body) {
      // body.html comes from kb's Markdown renderer, which escapes raw HTML.
      pane.innerHTML = body.html || "<p class=\"empty\">Nothing to preview yet.</p>";
    }).catch(function (error) {
      pane.textContent = "No preview: " + error.message;
    });
  }

  function hide(button, field, pane) {
    pane.hidden = true;
    field.hidden = false;
    button.setAttribute("aria-pressed", "false");
    button.textContent = "Preview";
    field.focus();
  }

  document.querySelectorAll("[data-preview-for]").forEach(function (button) {
    var field = document.getElementById(button.dataset.previewFor);
    var pane = document.getElementById(button.dataset.previewFor + "-preview");
    if (!field || !pane) {
      return;
    }
    button.addEventListener("click", function () {
      if (button.getAttribute("aria-pressed") === "true") {
        hide(button, field, pane);
      } else {
        show(button, field, pane);
      }
    });
  });
})();
