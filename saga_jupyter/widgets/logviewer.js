// LogViewer's page side (anywidget ESM, plain DOM, no build step).
//
// The kernel sends only what changed (see logviewer.py for the messages); every line's HTML
// was escaped and styled there, so it is inserted as is. A rendered view asks for a snapshot
// ("ready"): messages sent before it existed never reached it.

const SEARCH_DELAY_MS = 120;
const BOTTOM_SLACK_PX = 8;

function rowsHtml(lines) {
  let html = "";
  for (const line of lines) html += '<div class="sj-line">' + line + "</div>";
  return html;
}

function badgeText(status) {
  return { streaming: "Streaming", complete: "Complete" }[status] || "No session";
}

function el(tag, className, attributes = {}) {
  const node = document.createElement(tag);
  node.className = className;
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

function render({ model, el: root }) {
  const box = el("div", "sj-logviewer");
  const bar = el("div", "sj-bar");
  const badge = el("span", "sj-badge");
  const title = el("span", "sj-name");
  const note = el("span", "sj-note");
  const search = el("input", "sj-search", {
    type: "search", placeholder: "Search", "aria-label": "Search the output", spellcheck: "false",
  });
  const count = el("span", "sj-count");
  const filter = el("button", "sj-button sj-filter-toggle", {
    type: "button", title: "Show only matching lines", "aria-pressed": "false",
  });
  filter.textContent = "Filter";
  const followButton = el("button", "sj-button sj-follow", { type: "button" });
  bar.append(badge, title, note, search, count, filter, followButton);

  const pane = el("div", "sj-pane", { tabindex: "0", role: "log", "aria-live": "off" });
  const earlier = el("button", "sj-earlier", { type: "button" });
  earlier.textContent = "Load earlier output";
  const rows = el("div", "sj-rows");
  pane.append(earlier, rows);
  box.append(bar, pane);
  root.append(box);

  let openRow = null; // the incomplete last line: replaced by the next append
  let query = "";
  let searchTimer = null;
  let lastScrollTop = 0;
  let cursor = null; // the match Enter last jumped to

  const following = () => model.get("follow");
  const setFollow = (value) => {
    if (following() !== value) {
      model.set("follow", value);
      model.save_changes();
    }
  };
  const scrollToEnd = () => {
    pane.scrollTop = pane.scrollHeight;
    lastScrollTop = pane.scrollTop;
  };

  const matches = (row) => row.textContent.toLowerCase().includes(query);
  function mark(from) {
    // Only the rows from `from` on are looked at: new output costs its own rows, not all.
    for (let row = from; row; row = row.nextElementSibling) {
      row.classList.toggle("sj-match", query !== "" && matches(row));
    }
  }
  function updateCount() {
    count.textContent = query ? `${rows.querySelectorAll(".sj-match").length} matching` : "";
  }
  function trim(limit) {
    let excess = rows.childElementCount - limit;
    if (excess <= 0) return;
    const height = pane.scrollHeight;
    while (excess-- > 0 && rows.firstElementChild) rows.firstElementChild.remove();
    if (!following()) {
      // Rows went away above what the reader looks at: keep it in place.
      pane.scrollTop -= height - pane.scrollHeight;
      lastScrollTop = pane.scrollTop;
    }
  }

  function append(msg) {
    if (openRow) openRow.remove();
    const before = rows.lastElementChild;
    let html = rowsHtml(msg.lines);
    if (msg.open !== null && msg.open !== undefined) {
      html += '<div class="sj-line sj-open">' + msg.open + "</div>";
    }
    rows.insertAdjacentHTML("beforeend", html);
    openRow = msg.open === null || msg.open === undefined ? null : rows.lastElementChild;
    trim(msg.limit);
    if (query) {
      mark(before && before.isConnected ? before.nextElementSibling : rows.firstElementChild);
      updateCount();
    }
    if (following()) scrollToEnd();
  }

  function onMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "snapshot") {
      rows.textContent = "";
      openRow = null;
      append(msg);
    } else if (msg.type === "append") {
      append(msg);
    } else if (msg.type === "prepend") {
      const height = pane.scrollHeight;
      const first = rows.firstElementChild;
      rows.insertAdjacentHTML("afterbegin", rowsHtml(msg.lines));
      if (query) {
        for (let row = rows.firstElementChild; row && row !== first; row = row.nextElementSibling) {
          row.classList.toggle("sj-match", matches(row));
        }
        updateCount();
      }
      pane.scrollTop += pane.scrollHeight - height; // keep what the reader looks at in place
      lastScrollTop = pane.scrollTop;
      earlier.disabled = false;
      earlier.textContent = "Load earlier output";
    } else if (msg.type === "reset") {
      rows.textContent = "";
      openRow = null;
      updateCount();
    }
  }

  function showStatus() {
    const status = model.get("status");
    badge.textContent = badgeText(status);
    badge.dataset.status = status;
    title.textContent = model.get("name") || "";
    note.textContent = model.get("message") || "";
  }
  function showFollow() {
    const on = following();
    followButton.textContent = on ? "Following" : "Paused";
    followButton.setAttribute("aria-pressed", String(on));
    followButton.title = on ? "Pause auto-scroll" : "Follow new output";
    box.classList.toggle("sj-paused", !on);
    if (on) {
      trim(model.get("max_lines")); // the kernel trims the same way
      scrollToEnd();
    }
  }
  function showEarlier() {
    earlier.hidden = !model.get("has_earlier");
  }

  pane.addEventListener("scroll", () => {
    const top = pane.scrollTop;
    const atBottom = pane.scrollHeight - top - pane.clientHeight <= BOTTOM_SLACK_PX;
    if (top < lastScrollTop && !atBottom) setFollow(false); // scrolling up pauses
    else if (top > lastScrollTop && atBottom) setFollow(true); // back at the end: follow again
    lastScrollTop = top;
  });
  followButton.addEventListener("click", () => setFollow(!following()));
  earlier.addEventListener("click", () => {
    earlier.disabled = true;
    earlier.textContent = "Loading…";
    setFollow(false);
    model.send({ type: "earlier" });
  });
  filter.addEventListener("click", () => {
    const on = !box.classList.contains("sj-filtering");
    box.classList.toggle("sj-filtering", on);
    filter.setAttribute("aria-pressed", String(on));
  });
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      query = search.value.trim().toLowerCase();
      box.classList.toggle("sj-searching", query !== "");
      cursor = null;
      mark(rows.firstElementChild);
      updateCount();
    }, SEARCH_DELAY_MS);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !query) return;
    // Enter: the next match (Shift+Enter: the previous one), wrapping around.
    const all = Array.from(rows.querySelectorAll(".sj-match"));
    if (!all.length) return;
    const index = cursor && cursor.isConnected ? all.indexOf(cursor) : -1;
    const step = event.shiftKey ? -1 : 1;
    if (cursor) cursor.classList.remove("sj-current");
    cursor = all[(index + step + all.length) % all.length];
    cursor.classList.add("sj-current");
    setFollow(false);
    cursor.scrollIntoView({ block: "center" });
    lastScrollTop = pane.scrollTop;
  });

  const listeners = [
    ["msg:custom", onMessage],
    ["change:status", showStatus],
    ["change:name", showStatus],
    ["change:message", showStatus],
    ["change:follow", showFollow],
    ["change:has_earlier", showEarlier],
    ["change:max_lines", showFollow],
  ];
  for (const [event, listener] of listeners) model.on(event, listener);
  showStatus();
  showFollow();
  showEarlier();
  model.send({ type: "ready" });

  return () => {
    clearTimeout(searchTimer);
    for (const [event, listener] of listeners) model.off(event, listener);
  };
}

export default { render };
