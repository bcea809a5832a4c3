// dnd serve's page: drop prompts -> an adapter; chat with base and adapter side by side
// (streamed over the OpenAI-compatible API); list, download and delete adapters.
// Plain browser JavaScript, no build step, no external resources.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { file: null, server: null };

function errorText(body, status) {
  if (body && body.error) return body.error.message;
  return `HTTP ${status}`;
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) throw new Error(errorText(data, res.status));
  return data;
}

// ---- server info ---------------------------------------------------------------------
async function loadServer() {
  try {
    state.server = await api("GET", "/v1/server");
    const s = state.server;
    $("#server-info").textContent = `base model ${s.base_model} · generator trained on ` +
      `${s.generator_tasks.join(", ") || "?"} · N = ${s.n_prompts} prompts per condition`;
  } catch (e) {
    $("#server-info").textContent = `server unreachable: ${e.message}`;
  }
}

// ---- 1. drop prompts -> adapter --------------------------------------------------------
async function takeFile(file) {
  if (!file) return;
  const content = await file.text();
  state.file = { name: file.name, content };
  const lines = content.split(/\r?\n/).filter((l) => l.trim()).length;
  $("#file-name").textContent = `${file.name}: ${lines} lines`;
  await generate();
}

function setupDrop() {
  const drop = $("#drop");
  ["dragenter", "dragover"].forEach((ev) => drop.addEventListener(ev, (e) => {
    e.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((ev) => drop.addEventListener(ev, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length) takeFile(files[0]);
  });
  $("#file").addEventListener("change", (e) => takeFile(e.target.files[0]));
}

async function generate() {
  const prompts = $("#prompts").value.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const description = $("#description").value.trim();
  const body = { prompts };
  if (state.file) body.file = state.file;
  if (description) body.description = description;
  body.name = state.file ? state.file.name : (prompts[0] || description || "").slice(0, 60);
  const status = $("#gen-status");
  status.className = "muted";
  status.textContent = "generating…";
  $("#generate").disabled = true;
  try {
    const t0 = performance.now();
    const a = await api("POST", "/v1/adapters", body);
    status.textContent = `done in ${((performance.now() - t0) / 1000).toFixed(2)} s (round trip)`;
    showResult(a);
    await refreshAdapters(a.id);
  } catch (e) {
    status.className = "error";
    status.textContent = e.message;
  } finally {
    $("#generate").disabled = false;
    state.file = null;
  }
}

function showResult(a) {
  $("#result").hidden = false;
  $("#result-id").textContent = a.id;
  const t = a.timings || {};
  $("#result-time").textContent = a.cached
    ? "already generated (same prompts): 0 s"
    : `generated in ${(t.generate_s || 0).toFixed(2)} s`;
  $("#result-prompts").textContent = `${a.n_prompts} prompts` +
    (a.description ? ` · description (${a.description_use})` : "");
  $("#result-warnings").textContent = (a.warnings || []).map((w) => `note: ${w}`).join(" ");
  const list = $("#nearest");
  list.replaceChildren();
  for (const n of a.nearest || []) {
    const li = document.createElement("li");
    li.textContent = `${n.task}: ${n.similarity.toFixed(3)}`;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.max(0, n.similarity) * 160}px`;
    li.appendChild(bar);
    list.appendChild(li);
  }
  const warn = $("#far-warning");
  warn.hidden = !a.far;
  if (a.far) {
    const best = a.nearest[0];
    warn.textContent = `Out of domain: even the nearest training task (${best.task}, ${best.similarity.toFixed(2)}) ` +
      `is below ${a.far_threshold}. The generator has seen nothing like these prompts; expect an adapter ` +
      `close to an average of its training tasks, not one specialised to yours.`;
  }
}

// ---- 2. chat, streamed ----------------------------------------------------------------
async function streamChat(model, message, box) {
  const textEl = box.querySelector(".text");
  const meta = box.querySelector(".meta");
  const t0 = performance.now();
  let first = null;
  const maxTokens = parseInt($("#max-tokens").value, 10) || 64;
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model, messages: [{ role: "user", content: message }], stream: true,
                             max_tokens: maxTokens, temperature: 0 }),
    });
    if (!res.ok) {
      let data = null;
      try { data = await res.json(); } catch (e) { /* not JSON */ }
      throw new Error(errorText(data, res.status));
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    let finish = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
        if (!data || data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const choice = chunk.choices[0];
        if (choice && choice.delta && choice.delta.content) {
          if (first === null) first = performance.now();
          textEl.textContent += choice.delta.content;
        }
        if (choice && choice.finish_reason) finish = choice.finish_reason;
      }
    }
    const total = (performance.now() - t0) / 1000;
    meta.textContent = `${total.toFixed(2)} s` + (first ? `, first token ${((first - t0) / 1000).toFixed(2)} s` : "") +
      (finish ? `, ${finish}` : "");
  } catch (e) {
    textEl.classList.add("error");
    textEl.textContent = e.message;
  } finally {
    box.dataset.done = "1";
  }
}

async function send(e) {
  e.preventDefault();
  if ($("#send").disabled) return;
  const message = $("#message").value.trim();
  const adapter = $("#adapter-select").value;
  if (!message) return;
  const node = $("#exchange-template").content.firstElementChild.cloneNode(true);
  node.querySelector(".question").textContent = message;
  node.querySelector(".adapted .who").textContent = adapter ? `adapter ${adapter}` : "adapter (none selected)";
  $("#exchanges").prepend(node);
  $("#send").disabled = true;
  const jobs = [streamChat("base", message, node.querySelector(".base"))];
  if (adapter) jobs.push(streamChat(adapter, message, node.querySelector(".adapted")));
  else node.querySelector(".adapted").dataset.done = "1";
  await Promise.all(jobs);
  $("#send").disabled = false;
}

// ---- 3. adapter list --------------------------------------------------------------------
async function refreshAdapters(select) {
  let data;
  try {
    data = (await api("GET", "/v1/adapters")).data;
  } catch (e) {
    return;
  }
  const sel = $("#adapter-select");
  const keep = select || sel.value;
  sel.replaceChildren();
  if (!data.length) sel.appendChild(new Option("(none yet)", ""));
  const body = $("#adapters");
  body.replaceChildren();
  for (const a of data) {
    sel.appendChild(new Option(`${a.id}${a.name ? " · " + a.name : ""}`, a.id));
    const tr = document.createElement("tr");
    tr.dataset.id = a.id;
    const near = (a.nearest && a.nearest[0]) ? `${a.nearest[0].task} (${a.nearest[0].similarity.toFixed(2)})` : "";
    const cells = [a.id, a.name || "", String(a.n_prompts), near + (a.far ? " ⚠ far" : ""),
                   new Date((a.created || 0) * 1000).toLocaleString()];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      if (i === 0) {
        const code = document.createElement("code");
        code.textContent = text;
        code.title = "chat with this adapter";
        code.addEventListener("click", () => { sel.value = a.id; $("#message").focus(); });
        td.appendChild(code);
      } else td.textContent = text;
      tr.appendChild(td);
    });
    const actions = document.createElement("td");
    const dl = document.createElement("a");
    dl.href = `/v1/adapters/${a.id}/download`;
    dl.textContent = "download";
    dl.setAttribute("download", `${a.id}.zip`);
    const del = document.createElement("button");
    del.className = "small";
    del.textContent = "delete";
    del.addEventListener("click", async () => {
      try { await api("DELETE", `/v1/adapters/${a.id}`); } catch (e) { alert(e.message); }
      await refreshAdapters();
    });
    actions.append(dl, " ", del);
    tr.appendChild(actions);
    body.appendChild(tr);
  }
  if (keep && data.some((a) => a.id === keep)) sel.value = keep;
}

document.addEventListener("DOMContentLoaded", () => {
  setupDrop();
  $("#generate").addEventListener("click", generate);
  $("#chat-form").addEventListener("submit", send);
  $("#message").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("#chat-form").requestSubmit(); }
  });
  loadServer();
  refreshAdapters();
});
