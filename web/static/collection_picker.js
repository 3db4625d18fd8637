// The collection picker: as one types, ask /api/search and offer each hit with an Add
// button. On the editor (data-picker="post") Add posts the same form the page has without
// JavaScript; on the new-collection form (data-picker="form") it appends the id to the
// entries field and lists the chosen titles.
(function () {
  "use strict";
  const picker = document.getElementById("picker");
  const box = document.getElementById("picker-q");
  const hits = document.getElementById("picker-hits");
  if (!picker || !box || !hits) return;
  const posting = picker.dataset.picker === "post";
  const target = posting ? null : document.getElementById(picker.dataset.target);
  const chosenList = document.getElementById("picker-chosen");
  const inside = new Set((picker.dataset.inside || "").split(" ").filter(Boolean));
  let timer = null;
  let latest = 0;
  box.hidden = false;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function hidden(name, value) {
    const input = element("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    return input;
  }

  function chosenIds() {
    return target ? target.value.split(/[\s,]+/).filter(Boolean) : [];
  }

  function choose(hit, line) {
    const ids = chosenIds();
    if (!ids.includes(hit.id)) ids.push(hit.id);
    target.value = ids.join(" ");
    if (chosenList) chosenList.append(element("li", "entry-line", hit.title + " (" + hit.id + ")"));
    line.remove();
  }

  function addControl(hit, line) {
    if (posting) {
      const form = element("form", "inline");
      form.method = "post";
      form.action = picker.dataset.action;
      form.append(hidden(picker.dataset.csrfField, picker.dataset.csrf), hidden("entry", hit.id),
                  hidden("q", box.value));
      const button = element("button", "small add", "Add");
      button.type = "submit";
      form.append(button);
      return form;
    }
    const button = element("button", "small add", "Add");
    button.type = "button";
    button.addEventListener("click", function () { choose(hit, line); });
    return button;
  }

  function render(data) {
    hits.replaceChildren();
    const taken = new Set([...inside, ...chosenIds()]);
    const fresh = data.hits.filter(function (hit) { return !taken.has(hit.id); });
    if (!fresh.length) {
      hits.append(element("li", "empty", "Nothing new found. Try other words or an error code."));
      return;
    }
    for (const hit of fresh) {
      const line = element("li", "entry-line picker-hit");
      line.append(element("span", "kind kind-" + hit.kind, hit.kind), " ",
                  element("span", "badge badge-" + hit.status, hit.status), " ",
                  element("span", "", hit.title), " ", element("span", "meta", hit.id), " ");
      line.append(addControl(hit, line));
      hits.append(line);
    }
  }

  async function lookUp() {
    const query = box.value.trim();
    const mine = ++latest;
    if (query.length < 2) { hits.replaceChildren(); return; }
    try {
      const response = await fetch("/api/search?limit=8&q=" + encodeURIComponent(query),
                                   { headers: { Accept: "application/json" } });
      if (mine !== latest) return;
      if (!response.ok) {
        hits.replaceChildren(element("li", "empty", "Search is not available just now; try again."));
        return;
      }
      render(await response.json());
    } catch (error) {
      if (mine === latest) hits.replaceChildren(element("li", "empty", "Search is not available just now."));
    }
  }

  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(lookUp, 250);
  });
  // On the new-collection form, Enter in the search box must not submit the form.
  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !posting) { event.preventDefault(); lookUp(); }
  });
})();
