// echo-ihg live page: webcam + microphone -> server; avatar frames + audio <- server (docs/protocol.md).
"use strict";
const FPS = 25, RATE = 16000, FRAME_HEADER = 25, JITTER_S = 0.12;
const $ = (id) => document.getElementById(id);
const echo = window.echo = {
  state: "idle", framesReceived: 0, framesDrawn: 0, rtt: [], serverStats: null, errors: [],
  received: [],          // per avatar frame: {index, audioRms, rtt} (the last 3000; for tests)
  keepFrames: false, frames: new Map(),   // tests: keep each frame's JPEG (index -> Blob)
};
let ws = null, media = null, ctx = null, grabTimer = null, drawTimer = null, processor = null;
let seq = 0, playAt = 0, shown = [], recvTimes = [];

function setState(s) { echo.state = s; $("state").textContent = s; }
function logError(text) { echo.errors.push(text); const d = document.createElement("div"); d.textContent = text; $("log").prepend(d); }

function pct(a, q) { if (!a.length) return null; const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(q / 100 * s.length))]; }

function showStats() {
  const s = echo.serverStats || {}, lat = s.latency_ms || {}, rea = s.reaction_ms || {};
  const now = performance.now(); recvTimes = recvTimes.filter((t) => now - t < 2000);
  const fps = recvTimes.length / 2;
  const f = (x) => (x === null || x === undefined) ? "–" : Math.round(x);
  $("stats").textContent =
    `latency (server) p50/p95: ${f(lat.p50)} / ${f(lat.p95)} ms\n` +
    `round trip p50/p95:       ${f(pct(echo.rtt, 50))} / ${f(pct(echo.rtt, 95))} ms\n` +
    `reaction delay p50:       ${f(rea.p50)} ms\n` +
    `fps received / sent:      ${fps.toFixed(1)} / ${s.fps ?? "–"}\n` +
    `frames: ${echo.framesReceived}  late: ${s.late ?? "–"}  skipped: ${s.skipped ?? "–"}\n` +
    `user frames dropped: ${s.user_dropped ?? "–"}  tracked: ${s.user_tracked ?? "–"}`;
}

async function start() {
  $("start").disabled = true; setState("starting");
  try {
    media = await navigator.mediaDevices.getUserMedia({video: {width: 320, height: 240}, audio: {channelCount: 1}});
  } catch (e) { logError("camera/microphone: " + e); setState("idle"); $("start").disabled = false; return; }
  $("cam").srcObject = media;
  ctx = new AudioContext({sampleRate: RATE});
  await ctx.resume();
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  ws = new WebSocket(url); ws.binaryType = "arraybuffer";
  ws.onopen = () => ws.send(JSON.stringify({type: "hello", token: $("token").value || new URLSearchParams(location.search).get("token") || undefined, client: "browser"}));
  ws.onmessage = (ev) => (typeof ev.data === "string") ? onJson(JSON.parse(ev.data)) : onFrame(ev.data);
  ws.onclose = () => stop(false);
  $("stop").disabled = false;
}

function onJson(msg) {
  if (msg.type === "ready") { setState("connected"); startCapture(); sendAvatarFile(); }
  else if (msg.type === "started") setState("live");
  else if (msg.type === "stats") { echo.serverStats = msg; showStats(); }
  else if (msg.type === "error") logError(`${msg.code}: ${msg.message}`);
  else if (msg.type === "bye") setState("stopped");
}

function onFrame(buf) {
  const v = new DataView(buf);
  if (v.getUint8(0) !== 0x81) return;
  const index = v.getUint32(1, true), clientMs = v.getFloat64(9, true), n = v.getUint32(21, true);
  const pcm = new Int16Array(buf.slice(FRAME_HEADER, FRAME_HEADER + n));
  const jpeg = new Blob([buf.slice(FRAME_HEADER + n)], {type: "image/jpeg"});
  const rtt = Number.isNaN(clientMs) ? null : performance.now() - clientMs;
  if (rtt !== null) { echo.rtt.push(rtt); if (echo.rtt.length > 500) echo.rtt.shift(); }
  echo.framesReceived++; recvTimes.push(performance.now());
  // audio and image of this frame are presented together on the audio clock
  const audio = ctx.createBuffer(1, pcm.length || 1, RATE), ch = audio.getChannelData(0);
  let sq = 0; for (let i = 0; i < pcm.length; i++) { ch[i] = pcm[i] / 32768; sq += ch[i] * ch[i]; }
  if (playAt < ctx.currentTime + 0.02 || playAt > ctx.currentTime + 1.0) playAt = ctx.currentTime + JITTER_S;
  const src = ctx.createBufferSource(); src.buffer = audio; src.connect(ctx.destination); src.start(playAt);
  const at = playAt; playAt += pcm.length / RATE || 1 / FPS;
  echo.received.push({index, audioRms: Math.sqrt(sq / Math.max(1, pcm.length)), rtt});
  if (echo.received.length > 3000) echo.received.shift();
  if (echo.keepFrames) echo.frames.set(index, jpeg);
  createImageBitmap(jpeg).then((bmp) => shown.push({at, bmp}));
}

function draw() {
  if (!ctx) return;
  let latest = null;
  while (shown.length && shown[0].at <= ctx.currentTime) { if (latest) latest.bmp.close(); latest = shown.shift(); }
  if (latest) {
    const c = $("avatar"); if (c.width !== latest.bmp.width) { c.width = latest.bmp.width; c.height = latest.bmp.height; }
    c.getContext("2d").drawImage(latest.bmp, 0, 0); latest.bmp.close(); echo.framesDrawn++;
  }
}

function startCapture() {
  const grab = $("grab"), g = grab.getContext("2d"), cam = $("cam");
  grabTimer = setInterval(() => {
    if (!ws || ws.readyState !== 1 || cam.readyState < 2) return;
    if (ws.bufferedAmount > 256 * 1024) return;          // the network is behind: skip this frame
    g.drawImage(cam, 0, 0, grab.width, grab.height);
    const t = performance.now(), s = seq++;
    grab.toBlob((blob) => blob && blob.arrayBuffer().then((jpeg) => {
      if (!ws || ws.readyState !== 1) return;
      const head = new DataView(new ArrayBuffer(13));
      head.setUint8(0, 0x01); head.setUint32(1, s, true); head.setFloat64(5, t, true);
      ws.send(new Blob([head.buffer, jpeg]));
    }), "image/jpeg", 0.75);
  }, 1000 / FPS);
  drawTimer = setInterval(draw, 10);
  const mic = ctx.createMediaStreamSource(media);
  processor = ctx.createScriptProcessor(1024, 1, 1);
  processor.onaudioprocess = (ev) => {
    if (!ws || ws.readyState !== 1) return;
    const x = ev.inputBuffer.getChannelData(0), out = new Int16Array(x.length + 1);
    for (let i = 0; i < x.length; i++) out[i + 1] = Math.max(-32768, Math.min(32767, Math.round(x[i] * 32767)));
    // kind byte in the first int16 slot's low byte; the PCM starts at byte 2 -> send bytes [1, ...)
    const bytes = new Uint8Array(out.buffer); bytes[1] = 0x02;
    ws.send(bytes.subarray(1));
  };
  const mute = ctx.createGain(); mute.gain.value = 0;
  mic.connect(processor); processor.connect(mute); mute.connect(ctx.destination);
}

async function sendAvatarFile() {
  const f = $("avatarFile").files[0];
  if (f) echo.sendAvatarAudio(await f.arrayBuffer());
}

echo.sendAvatarAudio = (arrayBuffer) => {
  const msg = new Uint8Array(arrayBuffer.byteLength + 1); msg[0] = 0x04; msg.set(new Uint8Array(arrayBuffer), 1);
  ws.send(msg);
};
echo.sendTranscript = (entries) => ws.send(JSON.stringify({type: "transcript", entries}));
echo.framesBase64 = async (from, to) => {      // tests: the kept JPEGs of frames [from, to) as base64
  const out = {};
  for (const [i, blob] of echo.frames) {
    if (i < from || i >= to) continue;
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let bin = ""; for (let k = 0; k < bytes.length; k += 8192) bin += String.fromCharCode(...bytes.subarray(k, k + 8192));
    out[i] = btoa(bin);
  }
  return out;
};

function stop(sendStop = true) {
  if (sendStop && ws && ws.readyState === 1) ws.send(JSON.stringify({type: "stop"}));
  clearInterval(grabTimer); clearInterval(drawTimer); grabTimer = drawTimer = null;
  if (processor) { processor.disconnect(); processor = null; }
  if (media) { media.getTracks().forEach((t) => t.stop()); media = null; }
  $("start").disabled = false; $("stop").disabled = true;
  if (echo.state !== "stopped") setState(sendStop ? "stopping" : "stopped");
}

$("start").onclick = start;
$("stop").onclick = () => stop(true);
$("avatarFile").onchange = () => { if (ws && ws.readyState === 1) sendAvatarFile(); };
