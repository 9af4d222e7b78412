// The viewer: one WebSocket to /v1/stream, the face, the player and the controls.
// `window.tb` exposes the live state so a person (or a headless test) can inspect it.
"use strict";

const VISEMES = ["sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou"];
const $ = (id) => document.getElementById(id);

const tb = window.tb = {
  ws: null, welcome: null, player: null, ctx: null, errors: [], framesReceived: 0,
  audioReceived: 0, utterances: [], state: { audioTime: 0, playing: null, position: null, face: {} },
  gesturesReceived: 0, gesturesShown: [],
  mic: null, micSent: 0,
  camera: null, cameraSent: 0, welcomeAt: null,
};

// The microphone, as the dialogue loop wants it: mono PCM16 at 16 kHz in `mic` messages of
// ~128 ms. The browser captures at the audio context's rate; each block is averaged down.
const MIC_RATE = 16000;

function pcm16(block, fromRate) {
  const ratio = fromRate / MIC_RATE;
  const n = Math.floor(block.length / ratio);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const a = Math.floor(i * ratio), b = Math.max(a + 1, Math.floor((i + 1) * ratio));
    let sum = 0;
    for (let k = a; k < b; k++) sum += block[k];
    out[i] = Math.max(-1, Math.min(1, sum / (b - a))) * 32767;
  }
  return new Uint8Array(out.buffer);
}

async function startMic() {
  const stream = await navigator.mediaDevices.getUserMedia(
    { audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
  if (tb.ctx.state !== "running") await tb.ctx.resume();
  const source = tb.ctx.createMediaStreamSource(stream);
  const tap = tb.ctx.createScriptProcessor(2048, 1, 1);
  const mute = tb.ctx.createGain();
  mute.gain.value = 0;  // the processor runs only when connected; nothing is heard
  tap.onaudioprocess = (ev) => {
    send({ type: "mic", rate: MIC_RATE, data: pcm16(ev.inputBuffer.getChannelData(0), tb.ctx.sampleRate) });
    tb.micSent++;
  };
  source.connect(tap); tap.connect(mute); mute.connect(tb.ctx.destination);
  tb.mic = { stream, source, tap, mute };
}

function stopMic() {
  const mic = tb.mic;
  tb.mic = null;
  if (!mic) return;
  mic.tap.onaudioprocess = null;
  mic.source.disconnect(); mic.tap.disconnect(); mic.mute.disconnect();
  for (const track of mic.stream.getTracks()) track.stop();
}

async function toggleMic() {
  const button = $("mic");
  if (tb.mic) {
    stopMic();
  } else {
    try {
      await startMic();
    } catch (e) {
      status(`microphone unavailable: ${e.name || e} (allow it for this page, or use https)`);
    }
  }
  button.setAttribute("aria-pressed", tb.mic ? "true" : "false");
  button.textContent = tb.mic ? "🎤 Mic on" : "🎤 Mic";
}

// The camera, for a vision model: JPEG frames at most 640 px wide in `image` messages, one
// as sharing starts and every 5 s after, one at once with Snap. The server keeps the newest
// and shows it to the language model with the next turn.
const CAMERA_EVERY_MS = 5000;
const CAMERA_MAX_WIDTH = 640;
const CAMERA_MAX_BYTES = 512 * 1024;  // well below the server's 1 MiB per message

async function openCamera() {
  const stream = await navigator.mediaDevices.getUserMedia(
    { video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  const video = document.createElement("video");
  video.muted = true; video.playsInline = true; video.srcObject = stream;
  await video.play();
  return { stream, video, timer: null };
}

function closeCamera(camera) {
  if (camera.timer !== null) clearInterval(camera.timer);
  for (const track of camera.stream.getTracks()) track.stop();
  camera.video.srcObject = null;
}

// The video's current picture as JPEG bytes (lower quality until it fits), and when it was
// taken on the session clock (seconds since welcome), so the server can tell its age.
async function jpegFrame(video) {
  const scale = Math.min(1, CAMERA_MAX_WIDTH / video.videoWidth);
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(video.videoWidth * scale));
  canvas.height = Math.max(1, Math.round(video.videoHeight * scale));
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  const t = tb.welcomeAt === null ? undefined : Math.max(0, (performance.now() - tb.welcomeAt) / 1000);
  for (const quality of [0.7, 0.5, 0.3]) {
    const blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", quality));
    if (blob && blob.size <= CAMERA_MAX_BYTES) return { data: new Uint8Array(await blob.arrayBuffer()), t };
  }
  return null;
}

async function sendFrame(video) {
  if (!video.videoWidth) return;  // no picture yet
  const frame = await jpegFrame(video);
  if (!frame) { status("camera frame too large to send"); return; }
  const msg = { type: "image", data: frame.data };
  if (frame.t !== undefined) msg.t = frame.t;
  if (send(msg)) tb.cameraSent++;
}

async function toggleCamera() {
  const button = $("camera");
  if (tb.camera) {
    closeCamera(tb.camera);
    tb.camera = null;
  } else {
    try {
      const camera = await openCamera();
      tb.camera = camera;
      await sendFrame(camera.video);
      camera.timer = setInterval(() => { sendFrame(camera.video); }, CAMERA_EVERY_MS);
    } catch (e) {
      status(`camera unavailable: ${e.name || e} (allow it for this page, or use https)`);
    }
  }
  button.setAttribute("aria-pressed", tb.camera ? "true" : "false");
  button.textContent = tb.camera ? "📷 Sharing camera" : "📷 Share camera";
}

// One frame now: from the shared camera, or the camera opened just for it.
async function snap() {
  if (tb.camera) { await sendFrame(tb.camera.video); return; }
  try {
    const camera = await openCamera();
    try { await sendFrame(camera.video); } finally { closeCamera(camera); }
  } catch (e) {
    status(`camera unavailable: ${e.name || e} (allow it for this page, or use https)`);
  }
}

function send(msg) {
  if (!tb.ws || tb.ws.readyState !== WebSocket.OPEN) return false;
  tb.ws.send(MessagePack.encode(msg));
  return true;
}

function status(text) { $("status").textContent = text; }

// A server with tokens: open the viewer as /?token=… and the token goes to both requests.
const TOKEN = new URLSearchParams(location.search).get("token");
const QUERY = TOKEN ? `?token=${encodeURIComponent(TOKEN)}` : "";

async function loadInfo() {
  const info = await (await fetch(`/api/info${QUERY}`)).json();
  for (const v of info.voices) {
    const opt = new Option(`${v.id} (${v.lang})`, v.id);
    if (v.id === info.default_voice) opt.selected = true;
    $("voice").add(opt);
  }
  for (const e of info.emotions) if (e !== "neutral") $("emotion").add(new Option(e, e));
}

function connect() {
  tb.ctx = tb.ctx || new AudioContext();
  tb.player = new TalkbridgePlayer(tb.ctx);
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/stream${QUERY}`);
  ws.binaryType = "arraybuffer";
  tb.ws = ws;
  ws.onopen = () => send({
    type: "hello", protocol: 1, client: "talkbridge-viewer",
    channels: ["arkit52", "head", "eyes", "visemes"], audio_rate: tb.ctx.sampleRate, encoding: "f32",
  });
  ws.onmessage = (ev) => onMessage(MessagePack.decode(new Uint8Array(ev.data)));
  ws.onclose = () => { status("disconnected — retrying"); setTimeout(connect, 1500); };
}

function onMessage(msg) {
  const p = tb.player;
  switch (msg.type) {
    case "welcome":
      tb.welcome = msg; tb.welcomeAt = performance.now(); p.setWelcome(msg);
      status(`connected: session ${msg.session}, ${msg.fps} fps, ${msg.audio_rate} Hz`);
      break;
    case "utterance":
      if (msg.state === "start") { p.begin(msg.id); tb.utterances.push(msg.id); }
      else p.end(msg.id);
      break;
    case "audio": tb.audioReceived++; p.audio(msg); break;
    case "curves": {
      const width = tb.welcome.channels.length;
      const all = new Float32Array(msg.data.slice().buffer);
      const frames = [];
      for (let k = 0; k < msg.n; k++) frames.push(all.subarray(k * width, (k + 1) * width));
      if (msg.id !== "idle") tb.framesReceived += msg.n;
      p.curves(msg, frames);
      break;
    }
    case "gesture": tb.gesturesReceived++; p.gesture(msg); break;
    case "clear": p.clear(msg.id); break;
    case "transcript": $("transcript").textContent = msg.text; break;
    case "reply": $("reply").textContent = msg.text; break;
    case "error":
      tb.errors.push(msg);
      status(`error ${msg.code}: ${msg.message.slice(0, 160)}`);
      break;
  }
}

function frameToWeights(frame) {
  const w = {};
  if (!frame || !tb.welcome) return w;
  tb.welcome.channels.forEach((name, i) => { w[name] = frame[i]; });
  return w;
}

const GESTURE_ICONS = { nod: "↕", shake: "↔", tilt: "⤵", brow_raise: "⌃", beat: "•", shrug: "¯\\_(ツ)_/¯" };

// The small indicator on the stage: the gestures under way as the voice reaches them.
function showGestures(gestures) {
  const names = gestures.map((g) => g.name);
  const text = names.map((n) => `${GESTURE_ICONS[n] || "·"} ${n}`).join("  ");
  const badge = $("gesture");
  if (badge.textContent !== text) badge.textContent = text;
  badge.hidden = names.length === 0;
  for (const n of names) if (tb.gesturesShown[tb.gesturesShown.length - 1] !== n) tb.gesturesShown.push(n);
  return names;
}

function tick(face, plot) {
  if (tb.player && tb.welcome) {
    const cur = tb.player.current();
    const w = frameToWeights(cur.frame);
    face.render(w);
    plot.push(w);
    plot.draw(w, VISEMES);
    const gestures = showGestures(cur.gestures);
    tb.state = { audioTime: tb.ctx.currentTime, playing: cur.playing, position: cur.position, face: face.state, weights: w,
                 gestures };
  }
  requestAnimationFrame(() => tick(face, plot));
}

function main() {
  const face = new TalkbridgeFace($("face"));
  face.render({});
  const plot = new TalkbridgePlot($("plot"), $("visemes"));
  $("say-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (tb.ctx.state !== "running") tb.ctx.resume();
    const msg = { type: "say", text: $("text").value };
    if ($("voice").value) msg.voice = $("voice").value;
    if ($("emotion").value) msg.emotion = $("emotion").value;
    send(msg);
  });
  $("interrupt").addEventListener("click", () => send({ type: "interrupt" }));
  $("mic").addEventListener("click", () => { toggleMic(); });
  $("camera").addEventListener("click", () => { toggleCamera(); });
  $("snap").addEventListener("click", () => { snap(); });
  loadInfo().catch((e) => status(`could not load voices: ${e}`));
  connect();
  requestAnimationFrame(() => tick(face, plot));
}

main();
