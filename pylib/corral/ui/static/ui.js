// corral ui: posts the form to /api/evaluate and shows what the library answers.
"use strict";

const $ = (sel) => document.querySelector(sel);
const GiB = 1024 ** 3;
const catalog = JSON.parse($("#catalog-data").textContent);
const SETTINGS = ["maxContextLength", "gpuMemoryFraction", "dtype", "quantization", "prefixCaching"];
let flags = [];
let timer = null;
let pending = 0;
let downloadUrl = null;

function pastedConfig() {
  const text = $("#f-config").value.trim();
  if (!text || $("#f-catalog").value) return { config: null, error: "" };
  try {
    const config = JSON.parse(text);
    if (config === null || typeof config !== "object" || Array.isArray(config)) {
      return { config: null, error: "config.json: must hold a JSON object" };
    }
    return { config, error: "" };
  } catch (err) {
    return { config: null, error: `config.json: not valid JSON: ${err.message}` };
  }
}

function state() {
  const settings = {};
  for (const key of SETTINGS) settings[key] = $(`#s-${key}`).value;
  settings.trustRemoteCode = $("#s-trustRemoteCode").checked ? "true" : "";
  return {
    name: $("#f-name").value,
    model: $("#f-model").value,
    revision: $("#f-revision").value,
    engine: $("#f-engine").value,
    gpu_type: $("#f-gpu").value,
    gpus: $("#f-gpus").value,
    concurrency: $("#f-concurrency").value,
    settings,
    extra_args: $("#f-extraArgs").value.split("\n"),
    catalog: $("#f-catalog").value,
    config: pastedConfig().config,
  };
}

function schedule() {
  clearTimeout(timer);
  $("#status").textContent = "checking…";
  timer = setTimeout(evaluate, 250);
}

async function evaluate() {
  const ticket = ++pending;
  const response = await fetch("/api/evaluate", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(state()),
  });
  const result = await response.json();
  if (ticket !== pending) return; // a newer evaluation is on its way
  show(result);
}

function clearProblems() {
  for (const el of document.querySelectorAll(".problem")) el.replaceChildren();
  for (const el of document.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  $("#problems").replaceChildren();
}

function problem(slot, message) {
  const place = document.querySelector(`.problem[data-slot="${slot}"]`);
  const line = document.createElement(place ? "div" : "li");
  line.textContent = message;
  (place || $("#problems")).append(line);
  const field = place && place.parentElement.querySelector("input, select, textarea");
  if (field) field.setAttribute("aria-invalid", "true");
}

function show(result) {
  clearProblems();
  const pasted = pastedConfig();
  if (pasted.error) problem("config", pasted.error);
  if (result.error) {
    problem("", result.error);
    $("#status").textContent = "";
    return;
  }
  for (const p of result.problems) problem(p.slot, p.message);
  const ok = result.problems.length === 0;
  $("#status").textContent = ok
    ? `corral check: ok (modelGroups.${result.group})`
    : `corral check: ${result.problems.length} problem(s)`;
  $("#status").className = ok ? "note ok" : "note bad";
  $("#yaml").textContent = result.yaml;
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(new Blob([result.yaml], { type: "application/yaml" }));
  $("#download").href = downloadUrl;
  facts(result.model);
  bars(result.profiles);
  verdict(result);
  diff(result.diff);
}

function facts(model) {
  const dl = $("#facts");
  dl.replaceChildren();
  if (!model) return;
  const rows = [
    ["model", model.name],
    ["parameters", `${(model.parameters / 1e9).toFixed(2)} B`],
    ...model.weights.map((w) => [`weights, ${w.label}`, `${(w.bytes / GiB).toFixed(2)} GiB`]),
    ["KV cache per token", `${(model.kvBytesPerToken / 1024).toFixed(1)} KiB (${model.attention})`],
    ["max context", `${model.maxContext} tokens`],
  ];
  for (const [k, v] of rows) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    dl.append(dt, dd);
  }
}

function verdict(result) {
  const el = $("#verdict");
  const chosen = result.profiles.find((p) => p.chosen);
  el.className = "verdict";
  if (!result.model) {
    el.textContent = "Pick a catalog model, or paste its config.json, to see what fits.";
  } else if (!chosen) {
    el.textContent = "Pick a GPU profile for a verdict.";
  } else if (!chosen.fits) {
    el.textContent = `Does not fit ${chosen.gpus} x ${chosen.profile}: ${chosen.reason}`;
    el.classList.add("bad");
  } else {
    const short = chosen.holds < chosen.concurrency
      ? `, but holds only ${chosen.holds} of the ${chosen.concurrency} sequences pictured`
      : `; room for ${chosen.holds} sequences of ${chosen.context} tokens`;
    el.textContent = `Fits ${chosen.gpus} x ${chosen.profile}${short}.`;
    el.classList.add(chosen.holds < chosen.concurrency ? "warn" : "ok");
  }
}

const SVG = "http://www.w3.org/2000/svg";
function svg(name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function bars(profiles) {
  const box = $("#bars");
  box.replaceChildren();
  if (!profiles.length) return;
  const width = 300, left = 112, row = 24;
  const scale = Math.max(...profiles.map((p) => Math.max(p.memory, p.weights + p.kv + p.overhead)));
  const px = (bytes) => (Math.max(bytes, 0) / scale) * width;
  const chart = svg("svg", {
    viewBox: `0 0 ${left + width + 128} ${row * profiles.length + 4}`,
    role: "img", "aria-label": "GPU memory per profile",
  });
  profiles.forEach((p, i) => {
    const y = i * row + 4;
    const g = svg("g", { class: `profile${p.chosen ? " chosen" : ""}`, "data-profile": p.profile });
    g.append(svg("text", { x: 0, y: y + 15, class: "name" }, `${p.gpus} x ${p.profile}`));
    const usable = left + px(p.memory - p.reserved);
    const end = left + px(p.memory);
    g.append(svg("rect", { x: usable, y, width: end - usable, height: row - 8, class: "reserved" }));
    let x = left;
    for (const part of ["weights", "kv", "overhead"]) {
      const rect = svg("rect", { x, y, width: px(p[part]), height: row - 8, class: part });
      rect.append(svg("title", {}, `${part}: ${(p[part] / GiB).toFixed(1)} GiB`));
      g.append(rect);
      x += px(p[part]);
    }
    if (x > usable) {
      const over = svg("rect", { x: usable, y: y + 4, width: x - usable, height: row - 16, class: "over" });
      over.append(svg("title", {}, `over by ${(-p.headroom / GiB).toFixed(1)} GiB`));
      g.append(over);
    }
    g.append(svg("line", { x1: end, x2: end, y1: y - 2, y2: y + row - 6, class: "edge" }));
    const short = p.holds < p.concurrency;
    const label = !p.fits ? "does not fit"
      : short ? `fits ${p.holds} of ${p.concurrency}` : `fits, ${(p.headroom / GiB).toFixed(1)} GiB left`;
    const kind = !p.fits ? "nofit" : short ? "short" : "fit";
    g.append(svg("text", { x: left + width + 8, y: y + 15, class: kind }, label));
    chart.append(g);
  });
  box.append(chart);
}

function diff(result) {
  const box = $("#diff");
  box.replaceChildren();
  if (!result) return;
  const head = document.createElement("h3");
  head.textContent = "corral diff: what an upgrade from the current values does";
  const list = document.createElement("ul");
  for (const g of result.groups) {
    const li = document.createElement("li");
    li.textContent = `${g.group}: ${g.impact}${g.details.length ? ` (${g.details.join(", ")})` : ""}`;
    list.append(li);
  }
  if (result.other.length) {
    const li = document.createElement("li");
    li.textContent = `other objects changed: ${result.other.join(", ")}`;
    list.append(li);
  }
  box.append(head, list);
}

async function loadFlags() {
  const data = await (await fetch(`/api/flags/${encodeURIComponent($("#f-engine").value)}`)).json();
  flags = data.flags;
  $("#catalog-version").textContent = data.version || "engine's (none for this engine)";
  $("#flag-names").replaceChildren(
    ...flags.map((f) => Object.assign(document.createElement("option"), { value: f.name, label: f.help || f.name })),
  );
  lookup();
}

function lookup() {
  const flag = flags.find((f) => f.name === $("#flag-lookup").value.trim());
  $("#flag-add").disabled = !flag;
  if (!flag) {
    $("#flag-help").textContent = "";
    $("#flag-facts").textContent = "";
    return;
  }
  $("#flag-help").textContent = flag.help;
  const kinds = { bool: "no value (a switch)", int: "an integer", float: "a number", str: "a string", list: "a list" };
  const parts = [`takes ${kinds[flag.type] || `a ${flag.type}`}`];
  if (flag.choices) parts.push(`one of ${flag.choices.join(", ")}`);
  if (flag.aliases.length) parts.push(`also spelled ${flag.aliases.join(", ")}`);
  if (flag.negatable) parts.push(`negated as --no-${flag.name.slice(2)}`);
  if (flag.deprecated) parts.push("deprecated");
  $("#flag-facts").textContent = `${flag.name}: ${parts.join("; ")}.`;
}

function addFlag() {
  const flag = flags.find((f) => f.name === $("#flag-lookup").value.trim());
  if (!flag) return;
  const area = $("#f-extraArgs");
  const arg = flag.type === "bool" ? flag.name : `${flag.name}=`;
  area.value = `${area.value.replace(/\n*$/, "")}${area.value.trim() ? "\n" : ""}${arg}`;
  area.focus();
  schedule();
}

function pickModel() {
  const entry = catalog[$("#f-catalog").value];
  $("#own-config").hidden = Boolean(entry);
  $("#catalog-notes").textContent = entry ? entry.notes : "";
  if (entry) {
    $("#f-model").value = entry.source;
    $("#f-revision").value = entry.revision;
  }
  schedule();
}

async function upload() {
  const file = $("#f-upload").files[0];
  if (file) $("#f-config").value = await file.text();
  schedule();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (["flag-lookup", "f-upload", "f-catalog"].includes(el.id)) continue;
    el.addEventListener("input", schedule);
    el.addEventListener("change", schedule);
  }
  $("#f-catalog").addEventListener("change", pickModel);
  $("#f-upload").addEventListener("change", upload);
  $("#f-engine").addEventListener("change", loadFlags);
  $("#flag-lookup").addEventListener("input", lookup);
  $("#flag-add").addEventListener("click", addFlag);
  $("#copy").addEventListener("click", () => navigator.clipboard.writeText($("#yaml").textContent));
  loadFlags();
  schedule();
});
