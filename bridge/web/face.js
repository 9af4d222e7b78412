// An SVG face driven by ARKit blendshape weights (0..1) and eye/head rotations (radians).
// The geometry is parametric rather than morph targets: every shape the viewer must make
// readable — lips sealed for p/b/m, rounded lips for "oo", corners up for a smile — is one
// term of the lip outline below, so a curve's effect can be read straight off the code.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function el(parent, tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  parent.appendChild(node);
  return node;
}

const SKIN = "#f2c9a5", SKIN_DARK = "#d9a47f", LIP = "#c8605f", LIP_DARK = "#9d3e45";

class Face {
  constructor(svg) {
    this.svg = svg;
    svg.setAttribute("viewBox", "0 0 400 480");
    this.root = el(svg, "g", {});
    this.head = el(this.root, "g", {});
    el(this.head, "ellipse", { cx: 200, cy: 215, rx: 140, ry: 170, fill: SKIN, stroke: SKIN_DARK, "stroke-width": 2 });
    this.chin = el(this.head, "path", { fill: SKIN });
    this.chinLine = el(this.head, "path", { fill: "none", stroke: SKIN_DARK, "stroke-width": 2 });
    this.cheeks = [-1, 1].map((s) => el(this.head, "ellipse", { cx: 200 + s * 85, cy: 275, rx: 30, ry: 20, fill: "#e79a8a", opacity: 0 }));
    this.eyes = [-1, 1].map((s) => this._eye(200 + s * 58, 190));
    this.brows = [-1, 1].map(() => el(this.head, "path", { fill: "none", stroke: "#6b4a32", "stroke-width": 7, "stroke-linecap": "round" }));
    this.nose = el(this.head, "path", { fill: "none", stroke: SKIN_DARK, "stroke-width": 3, "stroke-linecap": "round" });
    this.mouthInside = el(this.head, "path", { fill: "#3a1418" });
    this.teethTop = el(this.head, "rect", { fill: "#f7f4ee", rx: 3 });
    this.teethBottom = el(this.head, "rect", { fill: "#efeae0", rx: 3 });
    this.tongue = el(this.head, "ellipse", { fill: "#d86a78" });
    this.upperLip = el(this.head, "path", { fill: LIP, stroke: LIP_DARK, "stroke-width": 1.5 });
    this.lowerLip = el(this.head, "path", { fill: LIP, stroke: LIP_DARK, "stroke-width": 1.5 });
    this.mouthClip = el(el(svg, "defs", {}), "clipPath", { id: "mouth-clip" });
    this.mouthClipPath = el(this.mouthClip, "path", {});
    for (const n of [this.teethTop, this.teethBottom, this.tongue]) n.setAttribute("clip-path", "url(#mouth-clip)");
    this.state = {};
  }

  _eye(cx, cy) {
    const g = el(this.head, "g", {});
    const white = el(g, "ellipse", { cx, cy, rx: 30, ry: 18, fill: "#fff", stroke: SKIN_DARK, "stroke-width": 1.5 });
    const iris = el(g, "circle", { cx, cy, r: 12, fill: "#4b6e8f" });
    const pupil = el(g, "circle", { cx, cy, r: 5, fill: "#111" });
    const upper = el(g, "path", { fill: SKIN });
    const lower = el(g, "path", { fill: SKIN });
    el(g, "ellipse", { cx, cy, rx: 30, ry: 18, fill: "none", stroke: SKIN_DARK, "stroke-width": 1.5 });
    return { cx, cy, white, iris, pupil, upper, lower };
  }

  // w: object name -> value (ARKit camelCase names, plus headYaw... leftEyeYaw... radians)
  render(w) {
    const v = (name) => (w[name] === undefined ? 0 : w[name]);
    const pair = (base) => [v(base + "Left"), v(base + "Right")];
    // Head: yaw/roll turn the whole face a little; pitch nods it.
    const yaw = v("headYaw"), pitch = v("headPitch"), roll = v("headRoll");
    this.root.setAttribute("transform",
      `translate(${(yaw * 120).toFixed(2)} ${(pitch * 120).toFixed(2)}) rotate(${(roll * 57.3).toFixed(2)} 200 240)`);

    this._renderEyes(v, pair);
    this._renderBrows(v);
    this._renderNoseCheeks(v, pair);
    this._renderMouth(v, pair);
    this.state = {
      jawOpen: v("jawOpen"), mouthClose: v("mouthClose"), lipGap: this.lipGap,
      mouthWidth: this.mouthWidth, blink: (v("eyeBlinkLeft") + v("eyeBlinkRight")) / 2,
    };
  }

  _renderEyes(v, pair) {
    const blink = pair("eyeBlink"), squint = pair("eyeSquint"), wide = pair("eyeWide");
    // Gaze: prefer rotation channels when present, else the eyeLook* shapes.
    const lookX = v("leftEyeYaw") || v("eyeLookOutLeft") - v("eyeLookInLeft");
    const lookY = v("leftEyePitch") || v("eyeLookUpLeft") - v("eyeLookDownLeft");
    this.eyes.forEach((e, i) => {
      // Positive yaw looks to the character's left, which is the viewer's right.
      const gx = e.cx + lookX * 40, gy = e.cy - lookY * 40;
      for (const n of [e.iris, e.pupil]) { n.setAttribute("cx", gx.toFixed(2)); n.setAttribute("cy", gy.toFixed(2)); }
      const k = i === 0 ? 1 : 0;  // index into [Left, Right] pairs: screen-left eye = character's right
      const close = Math.min(1, blink[k] + squint[k] * 0.3);
      const top = e.cy - 22 - wide[k] * 6;
      const lidY = top + (e.cy + 18 - top) * close;
      e.upper.setAttribute("d", `M ${e.cx - 34} ${top - 20} L ${e.cx + 34} ${top - 20} L ${e.cx + 34} ${e.cy}
        Q ${e.cx} ${(2 * lidY - e.cy).toFixed(2)} ${e.cx - 34} ${e.cy} Z`);
      const lowY = e.cy + 20 - squint[k] * 10;
      e.lower.setAttribute("d", `M ${e.cx - 34} ${e.cy} Q ${e.cx} ${lowY.toFixed(2)} ${e.cx + 34} ${e.cy} L ${e.cx + 34} ${e.cy + 26} L ${e.cx - 34} ${e.cy + 26} Z`);
    });
  }

  _renderBrows(v) {
    const inner = v("browInnerUp");
    this.brows.forEach((b, i) => {
      const s = i === 0 ? -1 : 1;
      const k = i === 0 ? "Right" : "Left";
      const down = v("browDown" + k), outer = v("browOuterUp" + k);
      const y0 = 150 + down * 12;
      const xi = 200 + s * (28 - down * 6), xo = 200 + s * 92;
      const yi = y0 - inner * 18 + down * 4, yo = y0 - outer * 16 + 4;
      b.setAttribute("d", `M ${xi} ${yi.toFixed(2)} Q ${(xi + xo) / 2} ${(Math.min(yi, yo) - 10).toFixed(2)} ${xo} ${yo.toFixed(2)}`);
    });
  }

  _renderNoseCheeks(v, pair) {
    const sneer = pair("noseSneer");
    const sl = sneer[1] * 6, sr = sneer[0] * 6;
    this.nose.setAttribute("d", `M 200 200 L 193 262 M 178 ${270 - sl} Q 200 ${282 - (sl + sr) / 2} 222 ${270 - sr}`);
    const squint = pair("cheekSquint"), puff = v("cheekPuff");
    this.cheeks.forEach((c, i) => {
      const k = i === 0 ? 1 : 0;
      c.setAttribute("opacity", Math.min(0.8, squint[k] * 0.9 + puff * 0.3).toFixed(3));
      c.setAttribute("rx", (30 + puff * 14).toFixed(2));
      c.setAttribute("cy", (275 - squint[k] * 8).toFixed(2));
    });
  }

  _renderMouth(v, pair) {
    const jaw = v("jawOpen"), close = v("mouthClose");
    const smile = pair("mouthSmile"), frown = pair("mouthFrown"), stretch = pair("mouthStretch");
    const press = pair("mouthPress"), dimple = pair("mouthDimple");
    const lowerDown = pair("mouthLowerDown"), upperUp = pair("mouthUpperUp");
    const funnel = v("mouthFunnel"), pucker = v("mouthPucker");
    const rollLower = v("mouthRollLower"), rollUpper = v("mouthRollUpper");
    const shrugLower = v("mouthShrugLower"), shrugUpper = v("mouthShrugUpper");
    const shift = (v("mouthLeft") - v("mouthRight")) * 14 + (v("jawLeft") - v("jawRight")) * 8;
    const cy = 330;
    // Corners: width from stretch/smile, narrowed by pucker/funnel; height from smile/frown.
    const avg = (p) => (p[0] + p[1]) / 2;
    const half = 52 + avg(stretch) * 14 + avg(smile) * 12 + avg(dimple) * 4 - pucker * 26 - funnel * 18;
    const xl = 200 - half + shift, xr = 200 + half + shift;
    const yl = cy - smile[1] * 14 + frown[1] * 12, yr = cy - smile[0] * 14 + frown[0] * 12;
    // Lip opening: the jaw opens it, mouthClose seals it against the jaw (ARKit semantics).
    const jawDrop = jaw * 60;
    const seal = Math.min(close, jaw) * 60;
    const gap = Math.max(0, jawDrop - seal + avg(lowerDown) * 10 + avg(upperUp) * 6 + funnel * 10 - avg(press) * 6);
    this.lipGap = gap;
    this.mouthWidth = xr - xl;
    const round = Math.max(funnel, pucker * 0.6);  // rounded opening
    const upperThick = Math.max(2, 10 - rollUpper * 8 - avg(press) * 4 + pucker * 5 + funnel * 3);
    const lowerThick = Math.max(2, 13 - rollLower * 10 - avg(press) * 4 + pucker * 6 + funnel * 4);
    // Where the lips' inner edges are at the middle of the mouth; they meet at cy when sealed.
    const topInner = cy - gap * 0.25 - avg(upperUp) * 5 - shrugUpper * 2;
    const botInner = cy + gap * 0.75 + shrugLower * -2;
    const midX = 200 + shift, cornerY = (yl + yr) / 2;
    // A quadratic's midpoint lies halfway between its control point and the chord: aim it.
    const ctl = (yMid) => (2 * yMid - cornerY).toFixed(2);
    const widen = round * half * 0.25;  // a round opening bulges near the corners
    const inner = `M ${xl} ${yl} C ${xl + widen} ${ctl(topInner)} ${xr - widen} ${ctl(topInner)} ${xr} ${yr}
      C ${xr - widen} ${ctl(botInner)} ${xl + widen} ${ctl(botInner)} ${xl} ${yl} Z`;
    this.mouthInside.setAttribute("d", inner);
    this.mouthClipPath.setAttribute("d", inner);
    const outerTop = topInner - upperThick;
    this.upperLip.setAttribute("d",
      `M ${xl} ${yl} Q ${midX - half * 0.5} ${ctl(outerTop - 3)} ${midX} ${(outerTop + 2).toFixed(2)}
       Q ${midX + half * 0.5} ${ctl(outerTop - 3)} ${xr} ${yr}
       C ${xr - widen} ${ctl(topInner)} ${xl + widen} ${ctl(topInner)} ${xl} ${yl} Z`);
    this.lowerLip.setAttribute("d",
      `M ${xl} ${yl} C ${xl + widen} ${ctl(botInner)} ${xr - widen} ${ctl(botInner)} ${xr} ${yr}
       Q ${midX} ${ctl(botInner + lowerThick * 1.6)} ${xl} ${yl} Z`);
    // Teeth and tongue, seen only through the opening (clip path).
    this.teethTop.setAttribute("x", (midX - half * 0.6).toFixed(2));
    this.teethTop.setAttribute("width", (half * 1.2).toFixed(2));
    this.teethTop.setAttribute("y", (topInner - 1).toFixed(2));
    this.teethTop.setAttribute("height", "9");
    this.teethBottom.setAttribute("x", (midX - half * 0.55).toFixed(2));
    this.teethBottom.setAttribute("width", (half * 1.1).toFixed(2));
    this.teethBottom.setAttribute("y", (botInner - 7).toFixed(2));
    this.teethBottom.setAttribute("height", "8");
    const tongueOut = v("tongueOut");
    this.tongue.setAttribute("cx", midX.toFixed(2));
    this.tongue.setAttribute("cy", (botInner - 2 - tongueOut * 8).toFixed(2));
    this.tongue.setAttribute("rx", (half * 0.5).toFixed(2));
    this.tongue.setAttribute("ry", (6 + tongueOut * 10).toFixed(2));
    // The chin drops with the jaw, below the skull's outline.
    const chinY = 383 + jawDrop * 0.8;
    const chin = `M 112 305 C 125 ${(chinY - 10).toFixed(2)} 160 ${chinY.toFixed(2)} 200 ${chinY.toFixed(2)}
      C 240 ${chinY.toFixed(2)} 275 ${(chinY - 10).toFixed(2)} 288 305`;
    this.chin.setAttribute("d", chin + " Z");
    this.chinLine.setAttribute("d", chin);
  }
}

window.TalkbridgeFace = Face;
