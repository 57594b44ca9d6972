// The agent inbox: keyboard shortcuts, live SLA countdowns, live events, inserting suggested replies.
// Text from the server is only ever inserted with textContent / value, never as HTML.
(function () {
  "use strict";
  const body = document.body;

  // --- SLA countdowns: the server renders them; this keeps them current between refreshes -----------
  function fmt(seconds) {
    const s = Math.abs(Math.round(seconds));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + " d " + h + " h";
    if (h) return h + " h " + m + " min";
    return m + " min";
  }
  function tick() {
    document.querySelectorAll("time[data-due]").forEach((el) => {
      const left = (Date.parse(el.dataset.due) - Date.now()) / 1000;
      if (isNaN(left)) return;
      el.textContent = (left < 0 ? el.dataset.over : el.dataset.left).replace("{}", fmt(left));
      const row = el.closest("tr");
      if (row) { row.classList.toggle("breach", left < 0); row.classList.toggle("soon", left >= 0 && left < 3600); }
    });
  }
  setInterval(tick, 30000);

  // --- keyboard ----------------------------------------------------------------------------------------
  let selected = -1;
  let pendingG = false;
  function rows() { return Array.from(document.querySelectorAll("tr.ticket")); }
  function select(i) {
    const all = rows();
    if (!all.length) return;
    selected = Math.max(0, Math.min(all.length - 1, i));
    all.forEach((r, n) => r.classList.toggle("selected", n === selected));
    all[selected].scrollIntoView({ block: "nearest" });
    const link = all[selected].querySelector("a");
    if (link) link.focus();
  }
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  document.addEventListener("keydown", (ev) => {
    const area = document.getElementById("body");
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && ev.target === area) {
      ev.preventDefault();
      const form = area.form;
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
      return;
    }
    if (ev.key === "Escape" && typing(ev.target)) { ev.target.blur(); return; }
    if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (pendingG) {
      pendingG = false;
      if (ev.key === "i") { location.href = "/agent/"; }
      return;
    }
    switch (ev.key) {
      case "j": select(selected + 1); break;
      case "k": select(selected - 1); break;
      case "Enter": { const r = rows()[selected]; if (r) location.href = r.dataset.href; break; }
      case "g": pendingG = true; break;
      case "/": { const f = document.querySelector("#filters select"); if (f) { ev.preventDefault(); f.focus(); } break; }
      case "r": case "n": {
        if (!area) break;
        ev.preventDefault();
        const radio = document.getElementById(ev.key === "r" ? "kind-reply" : "kind-note");
        if (radio) radio.checked = true;
        area.focus();
        break;
      }
      case "?": { const k = document.querySelector(".keys"); if (k) k.scrollIntoView(); break; }
      default: return;
    }
  });

  // --- suggested replies: inserted into the composer, never sent without the agent -------------------
  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest && ev.target.closest("button.insert");
    if (!btn) return;
    const area = document.getElementById("body");
    if (!area) return;
    const reply = document.getElementById("kind-reply");
    if (reply) reply.checked = true;
    area.value = area.value ? area.value.replace(/\s*$/, "") + "\n\n" + btn.dataset.text : btn.dataset.text;
    area.focus();
  });

  // --- live events: a hand-over or a customer's message shows at once ---------------------------------
  function toast(text) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 8000);
  }
  if (body.dataset.live && window.EventSource) {
    const page = document.querySelector(".ticket-page");
    const current = page ? page.dataset.ticket : null;
    const source = new EventSource("/agent/events");
    function changed(data) {
      body.dispatchEvent(new CustomEvent("inbox-changed"));
      if (current && String(data.ticket) === current) {
        const area = document.getElementById("body");
        if (!area || !area.value) body.dispatchEvent(new CustomEvent("ticket-changed"));
        else if (window.htmx) {  // keep what the agent is typing: refresh only the thread above it
          const draft = area.value;
          body.addEventListener("htmx:afterSwap", function restore() {
            const a = document.getElementById("body");
            if (a) a.value = draft;
            body.removeEventListener("htmx:afterSwap", restore);
          });
          body.dispatchEvent(new CustomEvent("ticket-changed"));
        }
      }
    }
    ["handover", "message", "ticket"].forEach((type) => {
      source.addEventListener(type, (ev) => {
        let data = {};
        try { data = JSON.parse(ev.data); } catch (e) { return; }
        if (data.text) toast(data.text);
        changed(data);
      });
    });
  }
})();
