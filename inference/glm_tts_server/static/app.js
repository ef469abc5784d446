// The operator page: speak, clone a voice from a clip, run a batch, watch the server. No build step.
"use strict";
const $ = (id) => document.getElementById(id);
const POLL_MS = 3000;
let serverInfo = null;
let clip = null; // {blob, name} of the reference clip to clone, as WAV

function headers(extra) {
  const key = $("api-key").value.trim();
  return { ...(key ? { Authorization: "Bearer " + key } : {}), ...(extra || {}) };
}

async function failure(response) {
  // /v1/* answers OpenAI's {"error": {"message", "param"}}; other paths {"detail"}.
  try {
    const body = await response.json();
    if (body.error) return body.error.message;
    if (body.detail) return body.detail;
  } catch (_) { /* not JSON */ }
  return response.status + " " + response.statusText;
}

function show(element, message, isError) {
  element.textContent = message;
  element.classList.toggle("error", Boolean(isError));
}

async function api(path, options) {
  const response = await fetch(path, { ...options, headers: headers(options && options.headers) });
  if (!response.ok) throw new Error(await failure(response));
  return response;
}

// -- server status --------------------------------------------------------------------------------
async function refreshStatus() {
  const ready = await fetch("/readyz").then((r) => r.json()).catch(() => ({ status: "unreachable" }));
  show($("info-ready"), ready.status === "ready" ? "ready" : ready.status + (ready.detail ? ": " + ready.detail : ""),
       ready.status !== "ready");
  try {
    serverInfo = await (await api("/v1/server")).json();
  } catch (error) {
    $("info-backend").textContent = $("info-model").textContent = $("info-queue").textContent = "—";
    show($("info-ready"), "server info: " + error.message, true);
    return;
  }
  $("info-backend").textContent = serverInfo.backend;
  $("info-model").textContent = serverInfo.model;
  const q = serverInfo.queue;
  $("info-queue").textContent = `${q.waiting} waiting, ${q.running} running (room for ${q.capacity})`;
  $("gpu").hidden = !serverInfo.gpu;
  $("consent-required").textContent = serverInfo.consent_required ? "(required)" : "(optional on this server)";
}

// -- speak ----------------------------------------------------------------------------------------
async function speak() {
  show($("speak-status"), "synthesising…");
  const body = { text: $("text").value, speed: Number($("speed").value), phoneme: $("phoneme").checked,
                 response_format: $("format").value };
  if ($("voice").value) body.voice = $("voice").value;
  const response = await api("/v1/tts", { method: "POST", body: JSON.stringify(body),
                                          headers: { "Content-Type": "application/json" } });
  const url = URL.createObjectURL(await response.blob());
  $("player").src = url;
  const link = $("download-speech");
  link.href = url;
  link.download = "speech." + body.response_format;
  link.hidden = false;
  const seconds = Number(response.headers.get("X-Audio-Duration-Seconds"));
  const took = Number(response.headers.get("X-Synthesis-Seconds"));
  show($("speak-status"), `${seconds.toFixed(2)} s of audio in ${took.toFixed(2)} s`);
  $("player").play().catch(() => { /* autoplay may be refused: the controls are there */ });
}

// -- voices ---------------------------------------------------------------------------------------
let voicesLoad = 0; // a newer load wins: an older answer (without a voice just made) is dropped
async function loadVoices(select) {
  const mine = ++voicesLoad;
  const voices = (await (await api("/v1/voices")).json()).voices;
  if (mine !== voicesLoad) return;
  const menu = $("voice");
  const current = select || menu.value;
  menu.length = 1;
  const rows = $("voices").tBodies[0];
  rows.replaceChildren();
  for (const voice of voices) {
    menu.add(new Option(voice.name, voice.name));
    const row = rows.insertRow();
    row.insertCell().textContent = voice.name;
    row.insertCell().textContent = voice.transcript;
    row.insertCell().textContent = voice.registered_by || "—";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", "Delete voice " + voice.name);
    remove.addEventListener("click", () => deleteVoice(voice.name).catch((e) => show($("clone-status"), e.message, true)));
    row.insertCell().append(remove);
  }
  if (voices.some((v) => v.name === current)) menu.value = current;
}

async function deleteVoice(name) {
  if (!window.confirm(`Delete the voice ${name} and its reference audio?`)) return;
  await api("/v1/voices/" + encodeURIComponent(name), { method: "DELETE" });
  await loadVoices();
  show($("clone-status"), `deleted ${name}`);
}

function wavFromBuffer(buffer) {
  // Mono 16-bit PCM WAV, which the server reads whatever the browser recorded or was given.
  const samples = buffer.getChannelData(0);
  for (let c = 1; c < buffer.numberOfChannels; c++) {
    const other = buffer.getChannelData(c);
    for (let i = 0; i < samples.length; i++) samples[i] = (samples[i] * c + other[i]) / (c + 1);
  }
  const view = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (offset, s) => [...s].forEach((ch, i) => view.setUint8(offset + i, ch.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, buffer.sampleRate, true); view.setUint32(28, buffer.sampleRate * 2, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 32767, true));
  return new Blob([view], { type: "audio/wav" });
}

async function useClip(blob, name) {
  const context = new AudioContext();
  try {
    const buffer = await context.decodeAudioData(await blob.arrayBuffer());
    clip = { blob: wavFromBuffer(buffer), name: name.replace(/\.[^.]*$/, "") + ".wav" };
    show($("clone-status"), `clip: ${buffer.duration.toFixed(1)} s`);
  } catch (_) {
    clip = { blob, name }; // let the server say what is wrong with it
    show($("clone-status"), "the browser cannot play this clip; the server will check it");
  } finally {
    context.close();
  }
  $("clip-player").src = URL.createObjectURL(clip.blob);
  $("clip-player").hidden = false;
}

let recorder = null;
async function toggleRecording() {
  const button = $("record");
  if (recorder) { recorder.stop(); return; }
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const parts = [];
  const started = Date.now();
  recorder = new MediaRecorder(stream);
  const timer = setInterval(() => { $("record-time").textContent = ((Date.now() - started) / 1000).toFixed(1) + " s"; }, 200);
  recorder.addEventListener("dataavailable", (event) => parts.push(event.data));
  recorder.addEventListener("stop", () => {
    clearInterval(timer);
    stream.getTracks().forEach((track) => track.stop());
    recorder = null;
    button.textContent = "Record";
    button.setAttribute("aria-pressed", "false");
    useClip(new Blob(parts, { type: parts[0] ? parts[0].type : "audio/webm" }), "recording.webm")
      .catch((e) => show($("clone-status"), e.message, true));
  });
  recorder.start();
  button.textContent = "Stop recording";
  button.setAttribute("aria-pressed", "true");
  show($("clone-status"), "recording… speak for 3 to 10 s, then stop");
}

async function cloneVoice() {
  if (!clip) throw new Error("choose or record a clip first");
  const name = $("voice-name").value.trim();
  const form = new FormData();
  form.append("name", name);
  form.append("transcript", $("clip-transcript").value);
  if ($("consent").value.trim()) form.append("consent", $("consent").value);
  form.append("audio", clip.blob, clip.name);
  show($("clone-status"), "registering…");
  const voice = await (await api("/v1/voices", { method: "POST", body: form })).json();
  await loadVoices(voice.name);
  show($("clone-status"), `voice ${voice.name} registered by ${voice.registered_by}: it is selected above, speak`);
  $("voice").focus();
}

// -- batch ----------------------------------------------------------------------------------------
async function runBatch() {
  const file = $("batch-file").files[0];
  const lines = file ? await file.text() : $("batch-text").value;
  if (!lines.trim()) throw new Error("choose a JSONL file or paste lines first");
  $("batch-results").replaceChildren();
  $("batch-manifest").hidden = true;
  let job = await (await api("/v1/batch", { method: "POST", body: lines,
                                            headers: { "Content-Type": "application/x-ndjson" } })).json();
  while (true) {
    const done = job.succeeded + job.failed;
    $("batch-progress").max = Math.max(job.total, 1);
    $("batch-progress").value = done;
    $("batch-count").textContent = `${done} of ${job.total}`;
    show($("batch-status"), `batch ${job.id}: ${job.status}`);
    if (job.status === "done" || job.status === "interrupted") break;
    await new Promise((resolve) => setTimeout(resolve, 500));
    job = await (await api("/v1/batch/" + job.id)).json();
  }
  for (const item of job.items) {
    const entry = document.createElement("li");
    if (item.status === "ok") {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = `Download ${item.uttid}.wav (${item.duration_s.toFixed(1)} s)`;
      button.addEventListener("click", () => download(item.audio_url, item.uttid + ".wav")
        .catch((e) => show($("batch-status"), e.message, true)));
      entry.append(button);
    } else {
      entry.textContent = `line ${item.line} (${item.uttid || "?"}): ${item.status}: ${item.error}`;
      entry.classList.add("error");
    }
    $("batch-results").append(entry);
  }
  const report = $("batch-manifest");
  report.href = URL.createObjectURL(new Blob([JSON.stringify(job, null, 1)], { type: "application/json" }));
  report.download = `batch-${job.id}.json`;
  report.hidden = false;
  show($("batch-status"), `batch ${job.id}: ${job.succeeded} succeeded, ${job.failed} failed`, job.failed > 0);
}

async function download(path, name) {
  // fetch (not a plain link) so the API key goes along
  const blob = await (await api(path)).blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
}

// -- GPU ------------------------------------------------------------------------------------------
async function emptyCache() {
  const token = $("admin-token").value.trim();
  const response = await fetch("/admin/empty-cache", { method: "POST",
                                                      headers: token ? { Authorization: "Bearer " + token } : {} });
  if (!response.ok) throw new Error(await failure(response));
  const result = await response.json();
  show($("admin-status"), `freed ${(result.freed_bytes / 2 ** 20).toFixed(1)} MiB`);
}

function on(id, event, action, statusId) {
  $(id).addEventListener(event, () => action().catch((e) => show($(statusId), e.message, true)));
}

on("speak", "click", speak, "speak-status");
on("record", "click", toggleRecording, "clone-status");
on("clone", "click", cloneVoice, "clone-status");
on("batch-run", "click", runBatch, "batch-status");
on("empty-cache", "click", emptyCache, "admin-status");
$("clip").addEventListener("change", () => {
  const file = $("clip").files[0];
  if (file) useClip(file, file.name).catch((e) => show($("clone-status"), e.message, true));
});
$("api-key").addEventListener("change", () => {
  refreshStatus();
  loadVoices().catch((e) => show($("speak-status"), "voices: " + e.message, true));
});
refreshStatus();
setInterval(refreshStatus, POLL_MS);
loadVoices().catch((e) => show($("speak-status"), "voices: " + e.message, true));
