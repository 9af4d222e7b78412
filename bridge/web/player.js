// Plays utterance audio with Web Audio and samples the curves at the audio playback time:
// the same rule as the engine plugins. Every audio chunk is scheduled at
// `utterance start + t`, so the face reads its frame from the clock the listener hears.
"use strict";

const START_DELAY = 0.12;   // seconds of buffer before an utterance starts playing
const BLEND = 0.15;         // seconds to blend between idle and speech

class Utterance {
  constructor(id, fps) {
    this.id = id;
    this.fps = fps;
    this.start = null;       // AudioContext time of the utterance's first sample
    this.frames = [];        // frame index -> Float32Array
    this.duration = 0;       // seconds of audio received so far
    this.sources = [];
    this.ended = false;      // "utterance end" received
    this.gestures = [];      // the server's body cues: {name, t, duration, strength}
  }

  // The gestures under way at `pos` (their head and brow part is already in the frames).
  gesturesAt(pos) {
    return this.gestures.filter((g) => pos >= g.t && pos < g.t + g.duration);
  }

  // Linear interpolation between the frames around `pos`; holds the ends.
  sample(pos, width) {
    const x = pos * this.fps;
    const k = Math.floor(x);
    const a = this.frames[Math.max(0, Math.min(k, this.frames.length - 1))];
    const b = this.frames[Math.max(0, Math.min(k + 1, this.frames.length - 1))];
    if (!a && !b) return null;
    if (!a || !b) return a || b;
    const u = Math.min(1, Math.max(0, x - k));
    const out = new Float32Array(width);
    for (let i = 0; i < width; i++) out[i] = a[i] + (b[i] - a[i]) * u;
    return out;
  }
}

class Player {
  constructor(ctx) {
    this.ctx = ctx;
    this.utterances = new Map();
    this.order = [];          // utterance ids in play order
    this.idle = [];           // [{t, frame}] on the session clock
    this.idleOffset = null;   // performance-time minus session time, fixed on first idle
    this.welcome = null;
  }

  setWelcome(welcome) {
    this.welcome = welcome;
    this.width = welcome.channels.length;
  }

  begin(id) {
    const u = new Utterance(id, this.welcome.fps);
    this.utterances.set(id, u);
    this.order.push(id);
  }

  audio(msg) {
    const u = this.utterances.get(msg.id);
    if (!u) return;
    const pcm = new Int16Array(msg.data.slice().buffer);  // copy: the view may be unaligned
    if (pcm.length === 0) return;
    if (u.start === null) {
      // Start after whatever plays before it, and after a small jitter buffer.
      const busyUntil = Math.max(0, ...this.order.map((id) => {
        const o = this.utterances.get(id);
        return o && o !== u && o.start !== null ? o.start + o.duration : 0;
      }));
      u.start = Math.max(this.ctx.currentTime + START_DELAY, busyUntil);
    }
    const rate = this.welcome.audio_rate;
    const buffer = this.ctx.createBuffer(1, pcm.length, rate);
    const data = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) data[i] = pcm[i] / 32768;
    const src = this.ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(this.ctx.destination);
    src.start(u.start + msg.t);
    u.sources.push(src);
    u.duration = Math.max(u.duration, msg.t + pcm.length / rate);
  }

  curves(msg, frames) {
    if (msg.id === "idle") {
      for (let k = 0; k < frames.length; k++) this.idle.push({ t: msg.t + k / msg.fps, frame: frames[k] });
      if (this.idleOffset === null) this.idleOffset = performance.now() / 1000 - msg.t + 0.1;
      if (this.idle.length > 600) this.idle.splice(0, this.idle.length - 600);
      return;
    }
    const u = this.utterances.get(msg.id);
    if (!u) return;
    const k0 = Math.round(msg.t * msg.fps);
    for (let k = 0; k < frames.length; k++) u.frames[k0 + k] = frames[k];
  }

  end(id) {
    const u = this.utterances.get(id);
    if (u) u.ended = true;
  }

  gesture(msg) {
    const u = this.utterances.get(msg.id);
    if (u) u.gestures.push({ name: msg.name, t: msg.t, duration: msg.duration, strength: msg.strength });
  }

  clear(id) {
    const u = this.utterances.get(id);
    if (!u) return;
    for (const s of u.sources) { try { s.stop(); } catch (e) { /* not started */ } }
    this.utterances.delete(id);
    this.order = this.order.filter((x) => x !== id);
  }

  idleFrame() {
    if (!this.idle.length || this.idleOffset === null) return null;
    const t = performance.now() / 1000 - this.idleOffset;
    let best = this.idle[0];
    for (const f of this.idle) { if (f.t <= t) best = f; else break; }
    return best.frame;
  }

  // The frame to show now, plus what is playing (for the UI and the tests).
  current() {
    const now = this.ctx.currentTime;
    const idle = this.idleFrame();
    for (const id of this.order) {
      const u = this.utterances.get(id);
      if (!u || u.start === null) continue;
      const pos = now - u.start;
      const done = u.ended && pos > u.duration + BLEND;
      if (done) { this.utterances.delete(id); this.order = this.order.filter((x) => x !== id); continue; }
      if (pos < -BLEND || pos > u.duration + BLEND) continue;
      const speech = u.sample(Math.min(Math.max(pos, 0), u.duration), this.width);
      if (!speech) continue;
      const w = Math.min(1, Math.max(0, Math.min(pos + BLEND, u.duration + BLEND - pos) / BLEND));
      return { frame: blend(idle, speech, w), playing: id, position: pos, gestures: u.gesturesAt(pos) };
    }
    return { frame: idle, playing: null, position: null, gestures: [] };
  }
}

function blend(a, b, w) {
  if (!a) return b;
  if (w >= 1) return b;
  const out = new Float32Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = a[i] + (b[i] - a[i]) * w;
  return out;
}

window.TalkbridgePlayer = Player;
