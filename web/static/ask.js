// Search before asking: as the worker types, show similar past cases in the chosen
// community. A lookup goes out after a short pause, and at least every MAX_WAIT ms while
// the typing goes on; "Looking for similar cases…" shows until the newest one is back.
(function () {
  "use strict";
  const title = document.getElementById("ask-title");
  const body = document.getElementById("ask-body");
  const community = document.getElementById("community");
  const panel = document.getElementById("similar");
  const status = document.getElementById("similar-status");
  const target = document.getElementById("similar-results");
  const expertTarget = document.getElementById("expert-results");
  const peek = document.getElementById("similar-peek");
  const askForm = document.getElementById("ask-form");
  const signedIn = askForm.dataset.signedIn === "yes";
  const PEEK_SIZE = 2;
  const PAUSE = 300;
  const MAX_WAIT = 600;
  let timer = null;
  let waitingSince = null;  // when the first keystroke not looked up yet came
  let latest = 0;  // the newest lookup sent
  let shown = 0;  // the newest lookup whose answer is on screen

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function link(href, text) {
    const node = element("a", "", text);
    node.href = href;
    return node;
  }

  function caseUrl(item, data) {
    return "/entries/" + encodeURIComponent(item.id) + (data.log_id ? "?s=" + data.log_id : "");
  }

  // The closest cases in one line each, under the title field (shown on phones only, by
  // kb.css), with a link down to all of them and to the people who solved them.
  function renderPeek(data) {
    if (!peek) return;
    peek.replaceChildren();
    if (!data.cases.length) return;
    const list = element("ul");
    for (const item of data.cases.slice(0, PEEK_SIZE)) {
      const line = element("li");
      line.append(element("span", "badge badge-" + item.status, item.status), " ", link(caseUrl(item, data), item.title));
      list.append(line);
    }
    const count = data.cases.length;
    const more = count === 1 ? "This case and who solved it ↓" : "All " + count + " similar cases and who solved them ↓";
    peek.append(list, link("#similar", more));
  }

  // "This answers my question": a small form to /ask/answered (the reuse and the search
  // log are recorded there), which then opens the case. The draft is not posted.
  function answeredForm(item, data) {
    const form = element("form", "inline answered");
    form.method = "post";
    form.action = "/ask/answered";
    const csrf = askForm.querySelector("input[type=hidden]");
    for (const [name, value] of [[csrf.name, csrf.value], ["case", item.id], ["s", data.log_id ? String(data.log_id) : ""]]) {
      const field = element("input");
      field.type = "hidden";
      field.name = name;
      field.value = value;
      form.append(field);
    }
    const button = element("button", "small answers-mine", "This answers my question");
    button.type = "submit";
    form.append(button);
    form.addEventListener("submit", forgetDraft);
    return form;
  }

  function progress(item) {
    const line = element("p", "progress progress-" + item.answer);
    if (item.answer === "solved" && item.solved_by.length) {
      line.append("Solved by ");
      item.solved_by.forEach(function (person, index) {
        if (index) line.append(", ");
        line.append(link("/people/" + encodeURIComponent(person.handle), person.name));
      });
    } else {
      line.textContent = item.label;
    }
    return line;
  }

  function render(data) {
    renderPeek(data);
    target.replaceChildren();
    if (!data.cases.length) {
      const where = community && data.community ? " in " + community.selectedOptions[0].textContent : "";
      target.append(element("p", "empty", "Nothing similar" + where + " yet. Keep describing, or post it: it will stay open for the community."));
      return;
    }
    for (const item of data.cases) {
      const card = element("article", "case");
      const head = element("h3");
      head.append(element("span", "badge badge-" + item.status, item.status), " ",
                  link(caseUrl(item, data), item.title));
      card.append(head);
      card.append(element("p", "snippet", item.snippet));
      if (item.accepted_solution) {
        const accepted = element("p", "accepted", "✔ Accepted solution: ");
        accepted.append(link("/entries/" + encodeURIComponent(item.id) + "#" + encodeURIComponent(item.accepted_solution.id), item.accepted_solution.title));
        card.append(accepted);
      }
      card.append(progress(item));
      if (item.accepted_solution && signedIn) card.append(answeredForm(item, data));
      target.append(card);
    }
  }

  function renderExperts(data) {
    expertTarget.replaceChildren();
    if (!data.experts.length) {
      expertTarget.append(element("p", "empty", "Nobody has solved anything like this yet. Post it: it stays open and visible, and the community can work it out together."));
      return;
    }
    for (const expert of data.experts) {
      const line = element("p", "expert");
      line.append(link(expert.url, expert.name), " ");
      const words = (expert.explanations || []).slice(0, 2).join("; ");
      const why = element("span", "meta", words ? words + (expert.reasons.length ? " · solved " : "") : "solved ");
      expert.reasons.slice(0, 2).forEach(function (reason, index) {
        if (index) why.append("; ");
        why.append(link(reason.url, reason.title), " (" + reason.role + ")");
      });
      line.append(why);
      expertTarget.append(line);
    }
  }

  async function lookupExperts(text, ticket) {
    const response = await fetch("/api/experts?limit=3&q=" + encodeURIComponent(text));
    if (ticket < shown || !response.ok) return;
    renderExperts(await response.json());
    expertTarget.dataset.updatedAt = String(performance.now());
  }

  function busy(on) {
    if (on) {
      panel.setAttribute("aria-busy", "true");
      status.hidden = false;
    } else {
      panel.removeAttribute("aria-busy");
      status.hidden = true;
    }
  }

  async function lookup() {
    clearTimeout(timer);
    timer = null;
    waitingSince = null;
    const text = (title.value + "\n" + body.value).trim();
    if (text.length < 3) {
      if (shown === latest) busy(false);
      return;
    }
    const ticket = ++latest;
    busy(true);
    const experts = lookupExperts(text.slice(0, 1000), ticket);
    try {
      const response = await fetch("/api/similar", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({title: title.value, body: body.value, community: community ? community.value : null}),
      });
      // An answer older than the one on screen is dropped; a newer one is shown even
      // while later lookups are still out, so continuous typing keeps updating.
      if (ticket > shown && response.ok) {
        const data = await response.json();
        if (ticket > shown) {
          shown = ticket;
          render(data);
          target.dataset.updatedAt = String(performance.now());
          target.dataset.community = data.community || "";
        }
      }
      await experts;
    } catch (error) {
      /* offline or the server is restarting: the next keystroke tries again */
    } finally {
      if (ticket === latest && timer === null) busy(false);
    }
  }

  function schedule() {
    const now = performance.now();
    if (waitingSince === null) waitingSince = now;
    busy(true);
    clearTimeout(timer);
    const wait = Math.max(0, Math.min(PAUSE, waitingSince + MAX_WAIT - now));
    timer = setTimeout(lookup, wait);
  }

  // The draft survives signing in (and a reload): kept in this tab's sessionStorage as
  // it is typed, put back into an empty form, dropped once the problem is posted. Not
  // localStorage: on a shared workstation it would wait there for the next person.
  const DRAFT_KEY = "kb-ask-draft";
  const form = document.getElementById("ask-form");
  const fields = ["title", "body", "tags", "community"].map(function (name) {
    return form.elements.namedItem(name);
  }).filter(Boolean);

  function saveDraft() {
    const draft = {};
    for (const field of fields) draft[field.name] = field.value;
    try {
      if (draft.title || draft.body || draft.tags) {
        sessionStorage.setItem(DRAFT_KEY, JSON.stringify(draft));
      } else {
        sessionStorage.removeItem(DRAFT_KEY);
      }
    } catch (error) { /* storage full or switched off: the form still works */ }
  }

  function restoreDraft() {
    let draft = null;
    try { draft = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null"); } catch (error) { return; }
    // A form the server filled (an error, a title from search) is newer than the draft.
    if (!draft || title.value || body.value) return;
    for (const field of fields) {
      if (typeof draft[field.name] === "string") field.value = draft[field.name];
    }
    const note = element("p", "notice draft-restored", "Your draft is back: what you typed before signing in.");
    form.prepend(note);
  }

  restoreDraft();
  for (const field of fields) field.addEventListener("input", saveDraft);
  for (const field of fields) field.addEventListener("change", saveDraft);
  function forgetDraft() {
    try { sessionStorage.removeItem(DRAFT_KEY); } catch (error) { /* nothing kept */ }
  }

  form.addEventListener("submit", function () {
    if (form.dataset.signedIn === "yes") {
      forgetDraft();
    } else {
      saveDraft();
    }
  });

  title.addEventListener("input", schedule);
  body.addEventListener("input", schedule);
  if (community) community.addEventListener("change", schedule);
  if (title.value) schedule();
})();
