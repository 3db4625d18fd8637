// Search before asking: as the worker types, show similar past cases (debounced).
(function () {
  "use strict";
  const title = document.getElementById("ask-title");
  const body = document.getElementById("ask-body");
  const target = document.getElementById("similar-results");
  const expertTarget = document.getElementById("expert-results");
  const peek = document.getElementById("similar-peek");
  const PEEK_SIZE = 2;
  let timer = null;
  let latest = 0;

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

  function render(data) {
    renderPeek(data);
    target.replaceChildren();
    if (!data.cases.length) {
      target.append(element("p", "empty", "Nothing similar yet. Keep describing, or post it: it will stay open for the community."));
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
        accepted.append(link("/entries/" + encodeURIComponent(item.accepted_solution.id), item.accepted_solution.title));
        card.append(accepted);
      }
      if (item.solved_by.length) {
        const people = element("p", "meta", "Solved by ");
        item.solved_by.forEach(function (person, index) {
          if (index) people.append(", ");
          people.append(link("/people/" + encodeURIComponent(person.handle), person.name));
        });
        card.append(people);
      }
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
    if (ticket !== latest || !response.ok) return;
    renderExperts(await response.json());
    expertTarget.dataset.updatedAt = String(performance.now());
  }

  async function lookup() {
    const text = (title.value + "\n" + body.value).trim();
    if (text.length < 3) return;
    const ticket = ++latest;
    const experts = lookupExperts(text.slice(0, 1000), ticket);
    const response = await fetch("/api/similar", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({title: title.value, body: body.value}),
    });
    if (ticket !== latest || !response.ok) return;
    render(await response.json());
    target.dataset.updatedAt = String(performance.now());
    await experts;
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(lookup, 300);
  }

  title.addEventListener("input", schedule);
  body.addEventListener("input", schedule);
  if (title.value) schedule();
})();
