// veil's review page: upload, follow jobs, edit the mask plan, re-render, download.
// Plain JavaScript with no build step. Originals are shown from the browser's own copy
// (an object URL); the service never sends an original back.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
// Boxes scored under this are drawn dashed and can be hidden: crowd photos get many faint
// candidates (recall first), and a reviewer looks at the confident ones first.
const FAINT = 0.3;
const $ = (id) => document.getElementById(id);
const jobs = [];
let current = null; // { job, plan, selected, resultUrl, viewUrl (what is shown of it) }

function say(text) { $("status").textContent = text; }

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = $("api-key").value.trim();
  if (key) headers.set("X-API-Key", key);
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(detail);
  }
  return response;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- upload and follow -------------------------------------------------------------------

function chooseFiles() { $("file").click(); }

function addFiles(files) {
  for (const file of files) upload(file);
}

async function upload(file) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.textContent = file.name; // shown to the user only; never sent
  const bar = document.createElement("progress");
  bar.max = 1; bar.value = 0;
  const state = document.createElement("span");
  state.className = "state"; state.textContent = "uploading";
  const open = document.createElement("button");
  open.type = "button"; open.textContent = "Review"; open.disabled = true;
  item.append(name, bar, state, open);
  $("jobs").append(item);
  const entry = { file, id: null, kind: null, item, bar, state, open };
  jobs.push(entry);
  open.addEventListener("click", () => openReview(entry));
  const form = new FormData();
  form.append("file", file, "upload");
  for (const field of ["mask", "shape", "margin", "audio"]) form.append(field, $("opt-" + field).value);
  form.append("review", "true");
  try {
    const job = await (await api("/v1/jobs", { method: "POST", body: form })).json();
    entry.id = job.id; entry.kind = job.kind;
    await follow(entry);
    if (!current) openReview(entry);
  } catch (err) {
    item.classList.add("failed");
    state.textContent = "failed: " + err.message;
    say(file.name + ": " + err.message);
  }
}

async function follow(entry) {
  for (;;) {
    const job = await (await api("/v1/jobs/" + entry.id)).json();
    entry.bar.value = job.progress;
    entry.state.textContent = job.state + (job.stage ? " (" + job.stage + ")" : "");
    if (job.state === "done") {
      entry.open.disabled = false;
      say(entry.file.name + ": done");
      return job;
    }
    if (job.state === "failed" || job.state === "expired") throw new Error(job.error || job.state);
    await sleep(300);
  }
}

// ---- review -------------------------------------------------------------------------------

async function openReview(entry) {
  const plan = await (await api(`/v1/jobs/${entry.id}/plan`)).json();
  current = { job: entry, plan, selected: -1, resultUrl: null };
  $("review").hidden = false;
  const stage = $("stage");
  stage.replaceChildren();
  const originalUrl = URL.createObjectURL(entry.file);
  if (entry.kind === "video") {
    const video = document.createElement("video");
    video.src = originalUrl; video.controls = true; video.muted = true;
    stage.append(video);
  } else {
    const img = document.createElement("img");
    const review = current;
    img.addEventListener("error", () => { if (current === review) originalUnshown(); },
      { once: true });
    img.src = originalUrl; img.alt = "Original photo with the mask plan drawn over it";
    stage.append(img, makeOverlay(plan));
  }
  $("original-note").hidden = true;
  for (const id of ["add-box", "delete-box", "keep-box"]) $(id).hidden = entry.kind === "video";
  $("tracks-box").hidden = entry.kind !== "video";
  if (entry.kind === "video") drawTracks();
  else drawRegions();
  await showResult();
  say(`Reviewing ${entry.file.name}: ${describePlan()}`);
}

// Browsers show no HEIC, TIFF or JPEG XL (Chromium): the boxes go over the result instead,
// and the page says so (the service never sends an original back, not even as a preview).
function originalUnshown() {
  current.originalUnshown = true;
  $("original-note").hidden = false;
  const img = $("stage").querySelector("img");
  if (img && current.viewUrl) {
    img.src = current.viewUrl;
    img.alt = "Result with the mask plan drawn over it (this browser cannot show the original)";
  }
}

// A result the browser cannot show either (a TIFF stays a TIFF): the service's JPEG of it.
// The download is still the result itself.
async function previewResult(el, review) {
  try {
    const blob = await (await api(`/v1/jobs/${review.job.id}/preview`)).blob();
    if (current !== review) return;
    if (review.previewUrl) URL.revokeObjectURL(review.previewUrl);
    review.previewUrl = review.viewUrl = URL.createObjectURL(blob);
    el.src = review.viewUrl;
    if (review.originalUnshown) originalUnshown();
  } catch (err) {
    say(`The result cannot be shown here (${err.message}); download it to check it.`);
  }
}

function describePlan() {
  const p = current.plan;
  if (p.media === "video") return `${p.tracks.length} tracks`;
  const kept = p.regions.filter((r) => r.keep).length;
  return `${p.regions.length} regions, ${kept} kept visible`;
}

async function showResult() {
  const response = await api(`/v1/jobs/${current.job.id}/result`);
  const blob = await response.blob();
  if (current.resultUrl) URL.revokeObjectURL(current.resultUrl);
  current.resultUrl = URL.createObjectURL(blob);
  const box = $("result");
  box.replaceChildren();
  let el;
  if (current.job.kind === "video") {
    el = document.createElement("video"); el.controls = true;
  } else {
    el = document.createElement("img"); el.alt = "Anonymized result";
  }
  el.id = "result-media";
  current.viewUrl = current.resultUrl;
  if (current.job.kind !== "video") {
    const review = current;
    el.addEventListener("error", () => previewResult(el, review), { once: true });
  }
  el.src = current.resultUrl;
  box.append(el);
  if (current.originalUnshown) originalUnshown();
  // The service's name for the file carries the suffix the CLI would give it (.jpg, .tif).
  const named = /filename="?veiled\.(\w+)/.exec(response.headers.get("Content-Disposition") || "");
  const ext = named ? named[1] : "bin";
  const stem = current.job.file.name.replace(/\.[^.]*$/, "");
  const link = $("download");
  link.href = current.resultUrl;
  link.download = `${stem}.veiled.${ext}`;
  link.removeAttribute("aria-disabled");
}

function makeOverlay(plan) {
  const svg = document.createElementNS(SVG, "svg");
  svg.id = "overlay";
  svg.setAttribute("viewBox", `0 0 ${plan.width} ${plan.height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "group");
  svg.setAttribute("aria-label", "Mask plan");
  svg.addEventListener("pointerdown", (ev) => { if (ev.target === svg) select(-1); });
  return svg;
}

function drawRegions() {
  const svg = $("overlay");
  if (!svg) return;
  // Keyboard users keep their place: if a box had focus, the selected box gets it back.
  const hadFocus = svg.contains(document.activeElement);
  svg.replaceChildren();
  const showFaint = $("show-faint").checked;
  current.plan.regions.forEach((region, i) => {
    const faint = region.score < FAINT && region.source !== "person";
    if (faint && !showFaint && i !== current.selected) return; // hidden, still in the plan
    const [x1, y1, x2, y2] = region.box;
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", x1); rect.setAttribute("y", y1);
    rect.setAttribute("width", x2 - x1); rect.setAttribute("height", y2 - y1);
    rect.setAttribute("tabindex", "0");
    rect.setAttribute("role", "button");
    rect.dataset.index = String(i);
    const classes = ["region"];
    // A licence plate or a line of text (--cover) is labelled and drawn in its own colour,
    // so a reviewer can keep a sign visible and still cover a plate.
    const category = region.category || "face";
    if (category !== "face") classes.push(category);
    if (region.keep) classes.push("keep");
    if (faint) classes.push("faint");
    if (i === current.selected) classes.push("selected");
    rect.setAttribute("class", classes.join(" "));
    rect.setAttribute("aria-label",
      `Box ${i + 1} of ${current.plan.regions.length}` +
      `${category === "face" ? "" : `, ${category}`}, ${region.keep ? "kept visible" : "covered"}` +
      `${i === current.selected ? ", selected" : ""}`);
    rect.addEventListener("focus", () => { if (current.selected !== i) select(i); });
    rect.addEventListener("pointerdown", (ev) => startDrag(ev, i, "move"));
    rect.addEventListener("keydown", (ev) => regionKey(ev, i));
    svg.append(rect);
  });
  if (current.selected >= 0) {
    const [, , x2, y2] = current.plan.regions[current.selected].box;
    const size = Math.max(8, current.plan.width / 80);
    const handle = document.createElementNS(SVG, "rect");
    handle.setAttribute("class", "handle");
    handle.setAttribute("x", x2 - size / 2); handle.setAttribute("y", y2 - size / 2);
    handle.setAttribute("width", size); handle.setAttribute("height", size);
    handle.addEventListener("pointerdown", (ev) => startDrag(ev, current.selected, "resize"));
    svg.append(handle);
  }
  if (hadFocus && current.selected >= 0) {
    const again = svg.querySelector(`rect[data-index="${current.selected}"]`);
    if (again) again.focus();
  }
  const has = current.selected >= 0;
  $("delete-box").disabled = !has;
  $("keep-box").disabled = !has;
  $("keep-box").textContent = has && current.plan.regions[current.selected].keep
    ? "Cover again (K)" : "Keep visible (K)";
}

function select(i) {
  current.selected = i;
  drawRegions();
}

function svgPoint(ev) {
  const svg = $("overlay");
  const point = svg.createSVGPoint();
  point.x = ev.clientX; point.y = ev.clientY;
  return point.matrixTransform(svg.getScreenCTM().inverse());
}

function startDrag(ev, i, mode) {
  ev.preventDefault();
  ev.stopPropagation();
  if (current.selected !== i) select(i);
  const start = svgPoint(ev);
  const box = current.plan.regions[i].box.slice();
  const svg = $("overlay");
  svg.setPointerCapture(ev.pointerId);
  const move = (e) => {
    const p = svgPoint(e);
    const dx = p.x - start.x, dy = p.y - start.y;
    const region = current.plan.regions[i];
    if (mode === "move") region.box = [box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy];
    else region.box = [box[0], box[1], Math.max(box[0] + 4, box[2] + dx), Math.max(box[1] + 4, box[3] + dy)];
    clampBox(region);
    region.source = "person";
    drawRegions();
  };
  const up = () => {
    svg.removeEventListener("pointermove", move);
    svg.removeEventListener("pointerup", up);
    focusSelected();
  };
  svg.addEventListener("pointermove", move);
  svg.addEventListener("pointerup", up);
}

function clampBox(region) {
  const { width, height } = current.plan;
  let [x1, y1, x2, y2] = region.box;
  const w = x2 - x1, h = y2 - y1;
  x1 = Math.min(Math.max(0, x1), width - w); y1 = Math.min(Math.max(0, y1), height - h);
  region.box = [x1, y1, Math.min(width, x1 + w), Math.min(height, y1 + h)].map((v) => Math.round(v * 10) / 10);
}

function regionKey(ev, i) {
  const region = current.plan.regions[i];
  const step = Math.max(1, Math.round(current.plan.width / 200));
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (ev.key in moves) {
    const [dx, dy] = moves[ev.key];
    const [x1, y1, x2, y2] = region.box;
    if (ev.shiftKey) region.box = [x1, y1, Math.max(x1 + 4, x2 + dx), Math.max(y1 + 4, y2 + dy)];
    else region.box = [x1 + dx, y1 + dy, x2 + dx, y2 + dy];
    clampBox(region);
    region.source = "person";
    drawRegions();
  } else if (ev.key === "Delete" || ev.key === "Backspace") {
    deleteSelected();
  } else if (ev.key === "k" || ev.key === "K") {
    toggleKeep();
  } else if (ev.key === "Escape") {
    select(-1);
    $("add-box").focus();
  } else {
    return;
  }
  ev.preventDefault();
}

function addBox() {
  const { width, height } = current.plan;
  const size = Math.round(Math.min(width, height) / 6);
  const x1 = Math.round((width - size) / 2), y1 = Math.round((height - size) / 2);
  current.plan.regions.push({ box: [x1, y1, x1 + size, y1 + size], score: 1, source: "person", keep: false });
  current.selected = current.plan.regions.length - 1;
  drawRegions();
  focusSelected();
  say(`Added box ${current.selected + 1}; move it with the arrow keys or drag it.`);
}

function deleteSelected() {
  const i = current.selected;
  if (i < 0) return;
  current.plan.regions.splice(i, 1);
  current.selected = Math.min(i, current.plan.regions.length - 1);
  drawRegions();
  focusSelected();
  say(`Deleted box ${i + 1}; ${describePlan()}`);
}

function focusSelected() {
  const rect = $("overlay").querySelector(`rect[data-index="${current.selected}"]`);
  if (rect) rect.focus();
}

function toggleKeep() {
  const i = current.selected;
  if (i < 0) return;
  const region = current.plan.regions[i];
  region.keep = !region.keep;
  drawRegions();
  say(`Box ${i + 1} will be ${region.keep ? "left visible" : "covered"}.`);
}

function drawTracks() {
  const list = $("tracks");
  list.replaceChildren();
  const fps = 30;
  for (const track of current.plan.tracks) {
    // A plate or a line of text (--cover) is named so, as regions are.
    const what = `${track.category || "face"} track ${track.id}`;
    const frames = Object.keys(track.boxes).map(Number);
    const first = Math.min(...frames), last = Math.max(...frames);
    const item = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.checked = !track.keep;
    box.dataset.track = String(track.id);
    box.addEventListener("change", () => {
      track.keep = !box.checked;
      say(`The ${what} will be ${track.keep ? "left visible" : "covered"}.`);
    });
    label.append(box, ` Cover ${what} (frames ${first}–${last})`);
    const seek = document.createElement("button");
    seek.type = "button"; seek.textContent = "Show";
    seek.addEventListener("click", () => {
      const video = $("stage").querySelector("video");
      if (video) video.currentTime = first / fps;
    });
    item.append(label, " ", seek);
    list.append(item);
  }
}

async function rerender() {
  if (!current) return;
  say("Re-rendering…");
  try {
    await api(`/v1/jobs/${current.job.id}/plan`, {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(current.plan),
    });
    await follow(current.job);
    await showResult();
    say(`Re-rendered ${current.job.file.name}: ${describePlan()}`);
  } catch (err) {
    say("Re-render failed: " + err.message);
  }
}

async function finish() {
  if (!current) return;
  try {
    await api(`/v1/jobs/${current.job.id}/finish`, { method: "POST" });
    $("rerender").disabled = true;
    say("The original was deleted from the service. The result stays until it expires.");
  } catch (err) {
    say("Could not finish: " + err.message);
  }
}

// ---- wiring -------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  const drop = $("drop");
  drop.addEventListener("click", chooseFiles);
  drop.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); chooseFiles(); }
  });
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault(); drop.classList.remove("over");
    addFiles(ev.dataTransfer.files);
  });
  $("file").addEventListener("change", (ev) => { addFiles(ev.target.files); ev.target.value = ""; });
  $("add-box").addEventListener("click", addBox);
  $("delete-box").addEventListener("click", deleteSelected);
  $("keep-box").addEventListener("click", toggleKeep);
  $("rerender").addEventListener("click", rerender);
  $("show-faint").addEventListener("change", () => { if (current && $("overlay")) drawRegions(); });
  $("finish").addEventListener("click", finish);
  $("download").setAttribute("aria-disabled", "true");
  document.addEventListener("keydown", (ev) => {
    const typing = ev.target.closest && ev.target.closest("input, select, textarea");
    if (!current || typing || $("review").hidden || current.job.kind === "video") return;
    if ((ev.key === "n" || ev.key === "N") && !ev.ctrlKey && !ev.metaKey) { ev.preventDefault(); addBox(); }
  });
});
