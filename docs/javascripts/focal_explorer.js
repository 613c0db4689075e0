// The focal-loss explorer on the focal loss page: loss and push on the true logit against p_y, with a
// slider for gamma. Self-contained (no library, no network), so the site works offline.
//
// With the other classes sharing the rest of the probability equally, the push on the true logit,
// -d loss / d z_y, depends on p_y alone:
//   focal:         (1 - p)^(g + 1) - g p (1 - p)^g log p     (g = 0 gives cross-entropy's 1 - p)
//   loss:          -(1 - p)^g log p
// tests/test_site.py checks these against the package's autograd values.
(function () {
  "use strict";

  function focalLoss(p, gamma) {
    return -Math.pow(1 - p, gamma) * Math.log(p);
  }

  function focalPush(p, gamma) {
    return Math.pow(1 - p, gamma + 1) - gamma * p * Math.pow(1 - p, gamma) * Math.log(p);
  }

  window.lossdemoFocal = { loss: focalLoss, push: focalPush };

  function css(name, fallback) {
    const value = getComputedStyle(document.body).getPropertyValue(name).trim();
    return value || fallback;
  }

  function draw(canvas, gamma) {
    const context = canvas.getContext("2d");
    const width = canvas.width, height = canvas.height;
    const panelWidth = width / 2, margin = { left: 46, right: 12, top: 26, bottom: 34 };
    const text = css("--md-typeset-color", "#333"), grid = "rgba(128, 128, 128, 0.35)";
    const reference = "#0072B2", focal = "#CC79A7";
    context.clearRect(0, 0, width, height);
    context.font = "13px sans-serif";
    const panels = [
      { title: "loss", f: focalLoss, top: 3 },
      { title: "push on the true logit", f: focalPush, top: 1.3 },
    ];
    panels.forEach(function (panel, index) {
      const x0 = index * panelWidth + margin.left, x1 = (index + 1) * panelWidth - margin.right;
      const y0 = height - margin.bottom, y1 = margin.top;
      const sx = function (p) { return x0 + (x1 - x0) * p; };
      const sy = function (v) { return y0 - (y0 - y1) * Math.min(v, panel.top) / panel.top; };
      context.strokeStyle = grid;
      context.beginPath();
      context.moveTo(x0, y1); context.lineTo(x0, y0); context.lineTo(x1, y0);
      context.stroke();
      context.fillStyle = text;
      context.fillText(panel.title, x0, y1 - 8);
      context.fillText("p_y", (x0 + x1) / 2 - 8, height - 8);
      [0, 0.5, 1].forEach(function (p) { context.fillText(String(p), sx(p) - 6, y0 + 16); });
      context.fillText(String(panel.top), x0 - 30, y1 + 4);
      context.fillText("0", x0 - 14, y0 + 4);
      [[0, reference], [gamma, focal]].forEach(function (curve) {
        context.strokeStyle = curve[1];
        context.lineWidth = 2;
        context.beginPath();
        for (let i = 1; i < 200; i += 1) {
          const p = i / 200, v = panel.f(p, curve[0]);
          if (i === 1) { context.moveTo(sx(p), sy(v)); } else { context.lineTo(sx(p), sy(v)); }
        }
        context.stroke();
      });
    });
    context.fillStyle = reference;
    context.fillText("cross-entropy (γ = 0)", width - 300, height - 8);
    context.fillStyle = focal;
    context.fillText("focal, γ = " + gamma, width - 140, height - 8);
  }

  function setUp(root) {
    if (root.dataset.ready) { return; }
    root.dataset.ready = "yes";
    const slider = root.querySelector("input[type=range]");
    const shown = root.querySelector("output");
    const canvas = root.querySelector("canvas");
    const table = root.querySelector("[data-push-table]");
    function update() {
      const gamma = Number(slider.value);
      shown.textContent = String(gamma);
      draw(canvas, gamma);
      if (table) {
        table.textContent = [0.1, 0.5, 0.9].map(function (p) {
          return "p_y = " + p + ": push " + focalPush(p, gamma).toFixed(3) + " (CE " + (1 - p).toFixed(3) + ")";
        }).join("; ");
      }
    }
    slider.addEventListener("input", update);
    update();
  }

  function setUpAll() {
    document.querySelectorAll(".lossdemo-explorer").forEach(setUp);
  }

  // Material's instant navigation swaps pages without a reload: set up on every page it shows.
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(setUpAll);
  } else {
    document.addEventListener("DOMContentLoaded", setUpAll);
  }
})();
