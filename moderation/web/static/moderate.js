// The moderator page's keyboard and in-place updates. Progressive: without this script
// every action still works as a plain form or link. Server HTML is inserted only from
// same-origin responses to our own requests, and every text we build ourselves goes
// through textContent, never innerHTML.
"use strict";

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  const rows = () => Array.from(document.querySelectorAll("#rows > li.row"));
  const detail = () => document.getElementById("detail");
  const item = () => document.getElementById("item");
  const undoStack = [];
  let current = 0;
  let loading = null;

  function toast(message, bad) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.classList.toggle("bad", !!bad);
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, bad ? 6000 : 2500);
  }

  async function send(url, fields) {
    const body = new FormData();
    for (const [name, value] of Object.entries(fields)) {
      if (value !== undefined && value !== null) body.append(name, String(value));
    }
    const resp = await fetch(url, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), "X-Requested-With": "fetch", Accept: "application/json" },
    });
    let data = {};
    try { data = await resp.json(); } catch (e) { data = {}; }
    if (!resp.ok) {
      throw new Error(data.detail || data.title || `request failed (${resp.status})`);
    }
    return data;
  }

  function select(index, load) {
    const list = rows();
    if (!list.length) return;
    current = Math.max(0, Math.min(index, list.length - 1));
    list.forEach((row, i) => row.classList.toggle("current", i === current));
    list[current].scrollIntoView({ block: "nearest" });
    if (load !== false) loadItem(list[current]);
  }

  async function loadItem(row) {
    const url = row.dataset.itemUrl;
    if (!url) return;
    const ticket = {};
    loading = ticket;
    const resp = await fetch(`${url}?back=${encodeURIComponent(location.pathname + location.search)}`, {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", Accept: "text/html" },
    });
    if (loading !== ticket) return; // a later j/k superseded this load
    if (!resp.ok) { toast(`could not load ${row.dataset.id} (${resp.status})`, true); return; }
    const html = await resp.text();
    const doc = new DOMParser().parseFromString(html, "text/html");
    const fresh = doc.getElementById("item");
    if (!fresh) return;
    detail().replaceChildren(document.importNode(fresh, true));
    loading = null;
  }

  function rowById(id) {
    return rows().find((row) => row.dataset.id === id);
  }

  function showStatus(id, status, revision) {
    const row = rowById(id);
    if (row) {
      row.className = row.className.replace(/\bstatus-\S+/, `status-${status}`);
      row.dataset.status = status;
      if (revision) row.dataset.revision = String(revision);
      const badge = row.querySelector('[data-role="status"]');
      if (badge) badge.textContent = status;
    }
    const it = item();
    if (it && it.dataset.id === id) {
      it.className = it.className.replace(/\bstatus-\S+/, `status-${status}`);
      it.dataset.status = status;
      const badge = document.getElementById("item-status");
      if (badge) badge.textContent = status;
    }
  }

  async function decide(decision) {
    const it = item();
    if (!it) return;
    const id = it.dataset.id;
    const before = it.dataset.status;
    const reason = document.getElementById("reason")?.value || "";
    const note = document.getElementById("note")?.value || "";
    try {
      const data = await send(it.dataset.decisionUrl, {
        decision, reason, note, revision: it.dataset.revision,
      });
      showStatus(id, data.status, data.revision);
      rowById(id)?.classList.add("decided");
      undoStack.push({ id, url: it.dataset.undoUrl, before });
      toast(`${decision === "approve" ? "Approved" : "Rejected"} ${id} — u to undo`);
      const list = rows();
      const next = list.findIndex((row, i) => i > current && !row.classList.contains("decided"));
      if (next >= 0) select(next);
    } catch (err) {
      toast(err.message, true);
    }
  }

  async function undo() {
    const last = undoStack.pop();
    if (!last) { toast("nothing to undo"); return; }
    try {
      const data = await send(last.url, {});
      showStatus(last.id, data.status, data.revision);
      const row = rowById(last.id);
      row?.classList.remove("decided");
      const index = rows().indexOf(row);
      if (index >= 0) select(index);
      toast(`Undone: ${last.id} is ${data.status} again`);
    } catch (err) {
      toast(err.message, true);
    }
  }

  function openBan() {
    const it = item();
    const dialog = document.getElementById("ban-dialog");
    if (!it || !dialog) return;
    document.getElementById("ban-author").textContent = it.dataset.author;
    document.getElementById("ban-form").action = it.dataset.banUrl;
    document.getElementById("ban-reason").value = "";
    dialog.showModal();
  }

  async function submitBan(event) {
    event.preventDefault();
    const form = event.target;
    const dialog = document.getElementById("ban-dialog");
    const fields = Object.fromEntries(new FormData(form).entries());
    try {
      await send(form.action, fields);
      dialog.close();
      const standing = document.getElementById("author-standing");
      if (standing) { standing.textContent = "banned"; standing.className = "badge banned"; }
      toast(`Banned ${document.getElementById("ban-author").textContent}`);
    } catch (err) {
      toast(err.message, true);
    }
  }

  function toggleHelp() {
    const dialog = document.getElementById("help-dialog");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  function chooseReason(n) {
    const select = document.getElementById("reason");
    if (select && n <= select.options.length) {
      select.selectedIndex = n - 1;
      toast(`Reason: ${select.options[n - 1].text}`);
    }
  }

  function togglePick() {
    const row = rows()[current];
    const box = row?.querySelector("input.pick");
    if (box) { box.checked = !box.checked; countPicked(); }
  }

  function countPicked() {
    const n = document.querySelectorAll("#rows input.pick:checked").length;
    const out = document.getElementById("selected-count");
    if (out) out.textContent = `${n} selected`;
  }

  function typing(target) {
    return target instanceof HTMLElement &&
      (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target) || document.querySelector("dialog[open]#ban-dialog")) return;
    const key = event.key;
    const actions = {
      j: () => select(current + 1),
      k: () => select(current - 1),
      a: () => decide("approve"),
      r: () => decide("reject"),
      u: () => undo(),
      b: () => openBan(),
      x: () => togglePick(),
      "?": () => toggleHelp(),
    };
    if (actions[key]) {
      event.preventDefault();
      actions[key]();
    } else if (/^[1-9]$/.test(key)) {
      event.preventDefault();
      chooseReason(Number(key));
    }
  });

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const action = target?.closest("[data-action]")?.dataset.action;
    if (action === "help") toggleHelp();
    if (action === "ban") openBan();
    if (action === "close") target.closest("dialog")?.close();
    const open = target?.closest("#rows a.open");
    if (open && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      event.preventDefault();
      select(rows().indexOf(open.closest("li.row")));
    }
  });

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.id === "ban-form") { submitBan(event); return; }
    if (form.id === "decide-form") {
      // Buttons of the decision form go through the same path as the keys.
      event.preventDefault();
      decide(event.submitter?.value === "reject" ? "reject" : "approve");
    }
  });

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.id === "select-all") {
      document.querySelectorAll("#rows input.pick").forEach((box) => { box.checked = target.checked; });
    }
    if (target.matches?.("#rows input.pick, #select-all")) countPicked();
  });

  document.addEventListener("DOMContentLoaded", () => {
    const list = rows();
    const it = item();
    const at = it ? list.findIndex((row) => row.dataset.id === it.dataset.id) : 0;
    if (list.length) select(at >= 0 ? at : 0, false);
    document.body.dataset.ready = "1"; // tests wait for this before pressing keys
  });
})();
