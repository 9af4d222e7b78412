// A scrolling plot of a few curves and bars of the 15 visemes, redrawn every frame.
"use strict";

const PLOTTED = [["jawOpen", "#f4a261"], ["mouthClose", "#e76f51"], ["mouthPucker", "#2a9d8f"],
                 ["mouthSmileLeft", "#e9c46a"], ["eyeBlinkLeft", "#8ab4f8"]];

class CurvePlot {
  constructor(canvas, bars) {
    this.canvas = canvas; this.bars = bars;
    this.history = [];  // [{name: value}]
  }

  push(w) {
    this.history.push(w);
    if (this.history.length > 240) this.history.shift();
  }

  draw(w, visemeNames) {
    const g = this.canvas.getContext("2d"), W = this.canvas.width, H = this.canvas.height;
    g.clearRect(0, 0, W, H);
    PLOTTED.forEach(([name, color], i) => {
      g.strokeStyle = color; g.beginPath();
      this.history.forEach((h, x) => {
        const y = H - 8 - (h[name] || 0) * (H - 24);
        const px = (x / 240) * W;
        if (x === 0) g.moveTo(px, y); else g.lineTo(px, y);
      });
      g.stroke();
      g.fillStyle = color; g.fillText(name, 6 + i * 92, 12);
    });
    const b = this.bars.getContext("2d"), BW = this.bars.width, BH = this.bars.height;
    b.clearRect(0, 0, BW, BH);
    const n = visemeNames.length, step = BW / n;
    visemeNames.forEach((name, i) => {
      const value = w["viseme_" + name] || 0;
      b.fillStyle = "#2a9d8f"; b.fillRect(i * step + 3, BH - 16 - value * (BH - 22), step - 6, value * (BH - 22));
      b.fillStyle = "#aab"; b.fillText(name, i * step + 4, BH - 4);
    });
  }
}

window.TalkbridgePlot = CurvePlot;
