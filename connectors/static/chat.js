// The web chat. All text from users and the bot is inserted with textContent: never as HTML.
(function () {
  "use strict";
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const tokenInput = document.getElementById("token");
  const storage = window.sessionStorage;
  // The sender id is an anonymous visitor's only key to their conversation: 128 bits from the browser's
  // cryptographic generator (crypto.getRandomValues works on plain http too, unlike crypto.randomUUID),
  // else a server-made one. Never Math.random: its ids can be guessed, and the server refuses them.
  function randomId() {
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  async function newSender() {
    if (window.crypto && window.crypto.getRandomValues) return randomId();
    const res = await fetch("/webhooks/rest/session", { method: "POST" });
    return (await res.json()).sender;
  }
  let sender = storage.getItem("crm-sender");
  if (sender && (sender.length < 16 || /^[0-9]+$/.test(sender))) sender = null;  // an id from an older page
  let token = storage.getItem("crm-token") || new URLSearchParams(location.hash.slice(1)).get("token") || "";

  function add(cls, text) {
    const li = document.createElement("li");
    li.className = "msg " + cls;
    li.textContent = text || "";
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
    return li;
  }

  function renderTable(li, table) {
    if (!table || !Array.isArray(table.columns) || !Array.isArray(table.rows)) return;
    const t = document.createElement("table");
    const head = t.createTHead().insertRow();
    table.columns.forEach((c) => { const th = document.createElement("th"); th.textContent = String(c); head.appendChild(th); });
    const body = t.createTBody();
    table.rows.forEach((row) => { const tr = body.insertRow(); row.forEach((cell) => { tr.insertCell().textContent = String(cell); }); });
    li.appendChild(t);
  }

  function render(reply) {
    const agent = reply.custom && reply.custom.type === "agent";
    const li = add(agent ? "agent" : "bot", reply.text || "");
    if (agent && reply.custom.name) li.dataset.from = String(reply.custom.name);
    if (reply.custom && reply.custom.type === "table") renderTable(li, reply.custom);
    if (reply.image && (reply.image.startsWith("data:image/png;base64,") || reply.image.startsWith("/"))) {
      const img = document.createElement("img");
      img.src = reply.image;
      img.alt = "chart";
      li.appendChild(img);
    }
    if (Array.isArray(reply.buttons) && reply.buttons.length) {
      const box = document.createElement("div");
      box.className = "buttons";
      reply.buttons.forEach((b) => {
        const btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.title;
        btn.addEventListener("click", () => {
          box.querySelectorAll("button").forEach((x) => { x.disabled = true; });
          send(b.payload, b.title);
        });
        box.appendChild(btn);
      });
      li.appendChild(box);
    }
  }

  // Live: an agent who took over the conversation writes into it. The socket only names our own sender id
  // (and token); the server derives which conversation that is, so nobody can listen to another one.
  let live = null;
  let liveDelay = 1000;
  function listen() {
    if (!sender || live || !window.WebSocket) return;
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    live = ws;
    ws.addEventListener("open", () => {
      liveDelay = 1000;
      const frame = { listen: sender };
      if (token) frame.token = token;
      ws.send(JSON.stringify(frame));
    });
    ws.addEventListener("message", (ev) => {
      let data = null;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (data && Array.isArray(data.push)) data.push.forEach(render);
    });
    ws.addEventListener("close", () => {
      live = null;
      liveDelay = Math.min(liveDelay * 2, 30000);
      setTimeout(listen, liveDelay);
    });
  }
  if (sender) listen();

  let warming = null;  // the "warming up" line while the server loads its language model

  async function send(message, shown) {
    add("user", shown || message);
    const headers = { "Content-Type": "application/json" };
    if (token && token.startsWith("crm_")) headers["Authorization"] = "Bearer " + token;
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        if (!sender) {
          sender = await newSender();
          storage.setItem("crm-sender", sender);
        }
        const body = { sender: sender, message: message };
        if (token && token.startsWith("cus_")) body.customer_token = token;
        const res = await fetch("/webhooks/rest/webhook", { method: "POST", headers: headers, body: JSON.stringify(body) });
        const data = await res.json();
        if (!res.ok && data.code === "sender_not_random" && attempt === 0) { sender = null; continue; }
        if (!res.ok && data.code === "warming_up") {
          // The model is still loading: say so (one line, updated) and send the same message again.
          warming = warming || add("warming", "");
          warming.textContent = data.error;
          await new Promise((done) => setTimeout(done, 1000 * (data.retry_after || 5)));
          attempt--;
          continue;
        }
        if (warming) { warming.remove(); warming = null; }
        if (!res.ok) { add("error", data.error || ("Error " + res.status)); return; }
        data.forEach(render);
        listen();
        return;
      }
    } catch (e) {
      add("error", "Connection problem. Please try again.");
    }
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  document.getElementById("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = tokenInput.value.trim();
    storage.setItem("crm-token", token);
    tokenInput.value = "";
    add("error", token ? "Signed in with token." : "Signed out.");
  });
  // A first line so nobody faces an empty page; not a bot message (the assistant has said nothing yet).
  const german = (navigator.language || "").toLowerCase().startsWith("de");
  add("intro", german
    ? (token ? "Hallo! Zum Beispiel: „Hab grad mit Anna Schmidt telefoniert“, „Was steht heute an?“, „Wie sieht die Pipeline aus?“"
             : "Hallo! Ich helfe bei Support-Anfragen: „Ich kann mich nicht einloggen“, „Wie ist der Stand von Ticket 1042?“, „Ich möchte mit einem Menschen sprechen“.")
    : (token ? "Hi! For example: “Just called Anna Schmidt at Acme”, “What's on my list today?”, “How does the pipeline look?”"
             : "Hi! I can help with support: “I can't log in”, “Any news on ticket 1042?”, “I want to talk to a person”."));
  input.focus();
})();
