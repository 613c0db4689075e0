// The loss explorer (docs/includes/explorer.md, on the Home page and the focal loss page): loss, push
// on the true logit and push as a share of cross-entropy's, against p_y, for the losses a reader
// toggles on, with a marker to drag along p_y and, beside the plot, what training with the nearest
// measured focal gamma gave. Self-contained (no library, no network), so the site works offline.
//
// With the other classes sharing the rest of the probability equally, the push on the true logit,
// -d loss / d z_y, depends on p = p_y alone (tests/test_site.py checks each against autograd):
//   cross-entropy   loss -log p                 push 1 - p
//   MAE             loss 2 (1 - p)              push 2 p (1 - p)     (sum of |p - onehot| over classes)
//   focal (gamma)   loss -(1 - p)^g log p       push (1 - p)^(g + 1) - g p (1 - p)^g log p
//   GCE (q)         loss (1 - p^q) / q          push p^q (1 - p)
// The share of CE's push is push / (1 - p).
//
// Colours come from Material's CSS variables (text and background) and from explorer.css (curves,
// one set per colour scheme); the drawing follows the scheme when the reader switches it.
(function () {
  "use strict";

  const LOSSES = {
    ce: {
      loss: function (p) { return -Math.log(p); },
      push: function (p) { return 1 - p; },
    },
    mae: {
      loss: function (p) { return 2 * (1 - p); },
      push: function (p) { return 2 * p * (1 - p); },
    },
    focal: {
      loss: function (p, g) { return -Math.pow(1 - p, g) * Math.log(p); },
      push: function (p, g) { return Math.pow(1 - p, g + 1) - g * p * Math.pow(1 - p, g) * Math.log(p); },
    },
    gce: {
      loss: function (p, q) { return (1 - Math.pow(p, q)) / q; },
      push: function (p, q) { return Math.pow(p, q) * (1 - p); },
    },
  };
  const ORDER = ["ce", "mae", "focal", "gce"];
  const SETTING_OF = { focal: "gamma", gce: "q" };  // the slider each parametrised loss reads
  const SYMBOL_OF = { gamma: "γ", q: "q" };

  function share(name, p, a) { return LOSSES[name].push(p, a) / (1 - p); }

  const PANELS = [
    { key: "loss", title: "loss ℓ", value: function (n, p, a) { return LOSSES[n].loss(p, a); } },
    { key: "push", title: "push on the true logit", value: function (n, p, a) { return LOSSES[n].push(p, a); } },
    { key: "share", title: "share of CE's push", value: share },
  ];
  // CE and focal loss grow without bound as p_y -> 0: the loss axis stops here (and says so).
  const LOSS_AXIS_CAP = 4;
  const SAMPLES = 400;  // curve points on (0, 1); fine enough that the sampled peak is the drawn one
  const HEADROOM = 1.04;

  const views = [];
  window.lossdemoExplorer = { losses: LOSSES, share: share, views: views, axisCap: LOSS_AXIS_CAP };

  // ------------------------------------------------------------------ colours

  function rgba(root, cssValue) {
    const probe = document.createElement("span");
    probe.style.color = cssValue;
    probe.style.display = "none";
    root.appendChild(probe);
    const found = getComputedStyle(probe).color.match(/[\d.]+/g).map(Number);
    root.removeChild(probe);
    return { r: found[0], g: found[1], b: found[2], a: found.length > 3 ? found[3] : 1 };
  }

  function over(colour, background) {  // an opaque colour: `colour` composited over `background`
    const a = colour.a;
    return "rgb(" + [colour.r * a + background.r * (1 - a), colour.g * a + background.g * (1 - a),
      colour.b * a + background.b * (1 - a)].map(Math.round).join(", ") + ")";
  }

  function colours(root) {
    const background = rgba(root, "var(--md-default-bg-color)");
    const opaque = { r: background.r, g: background.g, b: background.b, a: 1 };
    const curves = {};
    ORDER.forEach(function (name) { curves[name] = over(rgba(root, "var(--lossdemo-explorer-" + name + ")"), opaque); });
    return {
      background: over(opaque, opaque),
      text: over(rgba(root, "var(--md-default-fg-color)"), opaque),
      grid: over(rgba(root, "var(--md-default-fg-color--lightest)"), opaque),
      curves: curves,
    };
  }

  // ------------------------------------------------------------------ axes and layout

  function niceAxis(max) {
    const steps = [0.1, 0.2, 0.25, 0.5, 1, 2, 5];
    const step = steps.find(function (s) { return max / s <= 5; }) || 5;
    return { min: 0, max: Math.ceil(max / step - 1e-9) * step, step: step };
  }

  function axes(state) {
    const found = {};
    PANELS.forEach(function (panel) {
      let top = 0;
      state.active.forEach(function (name) {
        for (let i = 1; i < SAMPLES; i += 1) {
          top = Math.max(top, panel.value(name, i / SAMPLES, state.settings[SETTING_OF[name]]));
        }
      });
      const clipped = panel.key === "loss" && top > LOSS_AXIS_CAP;
      const axis = clipped ? niceAxis(LOSS_AXIS_CAP) : niceAxis(top > 0 ? top * HEADROOM : 1);
      axis.clipped = clipped;
      axis.peak = top;
      found[panel.key] = axis;
    });
    return found;
  }

  function layout(width) {
    const row = width >= 560;
    const height = row ? 250 : 3 * 200;
    const margin = { left: 44, right: 12, top: 30, bottom: 36 };
    const boxes = PANELS.map(function (panel, index) {
      const left = row ? index * width / 3 : 0, top = row ? 0 : index * 200;
      const w = row ? width / 3 : width, h = row ? height : 200;
      return { x0: left + margin.left, x1: left + w - margin.right, y0: top + h - margin.bottom, y1: top + margin.top };
    });
    return { row: row, width: width, height: height, boxes: boxes };
  }

  // ------------------------------------------------------------------ drawing

  function drawSubscriptLabel(context, x, y) {  // "p_y" with a real subscript
    context.fillText("p", x, y);
    const size = parseFloat(context.font);
    const saved = context.font;
    context.font = Math.round(size * 0.75) + "px sans-serif";
    context.fillText("y", x + context.measureText("p").width + 4, y + 4);
    context.font = saved;
  }

  function tickText(value) { return String(Math.round(value * 100) / 100); }

  function draw(view) {
    const state = view.state, canvas = view.canvas;
    const width = Math.max(240, canvas.clientWidth || canvas.parentNode.clientWidth || 680);
    const plan = layout(width);
    const ratio = window.devicePixelRatio || 1;
    canvas.style.height = plan.height + "px";
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(plan.height * ratio);
    view.plan = plan;
    const paint = state.colours;
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.fillStyle = paint.background;
    context.fillRect(0, 0, width, plan.height);
    context.font = "12px sans-serif";
    context.lineJoin = "round";

    PANELS.forEach(function (panel, index) {
      const box = plan.boxes[index], axis = state.axes[panel.key];
      const sx = function (p) { return box.x0 + (box.x1 - box.x0) * p; };
      const sy = function (v) { return box.y0 - (box.y0 - box.y1) * (v - axis.min) / (axis.max - axis.min); };

      context.lineWidth = 1;
      context.strokeStyle = paint.grid;
      context.fillStyle = paint.text;
      context.textAlign = "right";
      context.textBaseline = "middle";
      for (let v = axis.min; v <= axis.max + 1e-9; v += axis.step) {
        context.beginPath(); context.moveTo(box.x0, sy(v)); context.lineTo(box.x1, sy(v)); context.stroke();
        context.fillText(tickText(v), box.x0 - 6, sy(v));
      }
      context.textAlign = "center";
      context.textBaseline = "top";
      [0, 0.25, 0.5, 0.75, 1].forEach(function (p) {
        context.beginPath(); context.moveTo(sx(p), box.y1); context.lineTo(sx(p), box.y0); context.stroke();
        context.fillText(tickText(p), sx(p), box.y0 + 5);
      });
      context.strokeStyle = paint.text;
      context.beginPath();
      context.moveTo(box.x0, box.y1); context.lineTo(box.x0, box.y0); context.lineTo(box.x1, box.y0);
      context.stroke();
      context.textAlign = "left";
      context.textBaseline = "alphabetic";
      context.font = "bold 12px sans-serif";
      context.fillText(panel.title, box.x0 - 34, box.y1 - 12);
      context.font = "12px sans-serif";
      drawSubscriptLabel(context, (box.x0 + box.x1) / 2 - 6, box.y0 + 30);

      context.save();
      context.beginPath();
      context.rect(box.x0, box.y1 - 1, box.x1 - box.x0, box.y0 - box.y1 + 2);
      context.clip();
      state.active.forEach(function (name) {
        const a = state.settings[SETTING_OF[name]];
        context.strokeStyle = paint.curves[name];
        context.lineWidth = 2.25;
        context.setLineDash(name === "mae" ? [7, 4] : name === "gce" ? [2, 3] : []);
        context.beginPath();
        for (let i = 1; i < SAMPLES; i += 1) {
          const p = i / SAMPLES, y = sy(Math.min(panel.value(name, p, a), axis.max * 2));
          if (i === 1) { context.moveTo(sx(p), y); } else { context.lineTo(sx(p), y); }
        }
        context.stroke();
      });
      context.setLineDash([]);
      context.restore();

      // The marker: a line at the chosen p_y and a dot on each curve there.
      const p = state.p;
      context.strokeStyle = paint.text;
      context.lineWidth = 1;
      context.setLineDash([3, 3]);
      context.beginPath(); context.moveTo(sx(p), box.y1); context.lineTo(sx(p), box.y0); context.stroke();
      context.setLineDash([]);
      state.active.forEach(function (name) {
        const v = panel.value(name, p, state.settings[SETTING_OF[name]]);
        const y = v > axis.max ? box.y1 : sy(v);
        context.fillStyle = paint.curves[name];
        context.strokeStyle = paint.background;
        context.beginPath(); context.arc(sx(p), y, 4, 0, 2 * Math.PI); context.fill(); context.stroke();
      });
    });
    view.redraws += 1;
  }

  // ------------------------------------------------------------------ read-outs

  function title(view, name) {
    const label = view.root.querySelector("input[type=checkbox][value=" + name + "]").closest("label");
    const base = label.textContent.trim();
    const setting = SETTING_OF[name];
    return setting ? base + " (" + SYMBOL_OF[setting] + " = " + String(view.state.settings[setting]) + ")" : base;
  }

  function cell(row, key, value) {
    const td = document.createElement("td");
    td.dataset.value = key;
    td.dataset.number = String(value);
    td.textContent = value.toFixed(3);
    row.appendChild(td);
  }

  function writeReadout(view) {
    const body = view.root.querySelector("[data-readout] tbody");
    const p = view.state.p;
    body.textContent = "";
    view.state.active.forEach(function (name) {
      const a = view.state.settings[SETTING_OF[name]];
      const row = document.createElement("tr");
      row.dataset.loss = name;
      const head = document.createElement("th");
      head.scope = "row";
      const swatch = document.createElement("span");
      swatch.className = "lossdemo-explorer__swatch lossdemo-explorer__swatch--" + name;
      head.appendChild(swatch);
      head.appendChild(document.createTextNode(title(view, name)));
      row.appendChild(head);
      cell(row, "loss", LOSSES[name].loss(p, a));
      cell(row, "push", LOSSES[name].push(p, a));
      cell(row, "share", share(name, p, a));
      body.appendChild(row);
    });
    if (!view.state.active.length) {
      const row = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = 4;
      td.textContent = "Tick a loss above to draw it.";
      row.appendChild(td);
      body.appendChild(row);
    }
    const note = view.root.querySelector("[data-clip-note]");
    if (note) {
      note.textContent = "";
      if (view.state.axes.loss.clipped) {
        note.appendChild(document.createTextNode("The loss axis stops at " + LOSS_AXIS_CAP
          + ": cross-entropy and focal loss grow without bound as p"));
        note.appendChild(element("sub", "y"));
        note.appendChild(document.createTextNode(" → 0."));
      }
    }
  }

  // ------------------------------------------------------------------ measurements beside the plot

  function measured() {
    const script = document.getElementById("lossdemo-explorer-measured");
    try {
      return script ? JSON.parse(script.textContent) : null;
    } catch (error) {
      return null;
    }
  }

  function pageUrl(source, section) {  // a docs/ source path -> its URL on this site (directory URLs)
    let base = ".";
    const config = document.getElementById("__config");
    if (config) {
      try { base = JSON.parse(config.textContent).base || "."; } catch (error) { base = "."; }
    }
    const path = source.replace(/(^|\/)index\.md$/, "$1").replace(/\.md$/, "/");
    return new URL(base.replace(/\/?$/, "/") + path, window.location.href).href + (section ? "#" + section : "");
  }

  function element(tag, text, className) {
    const made = document.createElement(tag);
    if (text !== undefined) { made.textContent = text; }
    if (className) { made.className = className; }
    return made;
  }

  function writeMeasured(view) {
    const box = view.root.querySelector("[data-measured]");
    if (!box) { return; }
    const body = box.querySelector("[data-measured-body]");
    const data = view.measured;
    const gamma = view.state.settings.gamma;
    body.textContent = "";
    if (!data || !data.datasets || !data.datasets.length) {
      box.dataset.gamma = "";
      body.appendChild(element("p", (data && data.note) || "No measurements of the γ sweep are stored.", "lossdemo-explorer__none"));
      if (data && data.command) {
        const line = element("p", "Train them with ");
        line.appendChild(element("code", data.command));
        body.appendChild(line);
      }
      return;
    }
    data.datasets.forEach(function (dataset) {
      const nearest = dataset.rows.reduce(function (best, row) {
        return Math.abs(row.gamma - gamma) < Math.abs(best.gamma - gamma) ? row : best;
      });
      box.dataset.gamma = String(nearest.gamma);
      body.appendChild(element("p", "Nearest measured γ: " + nearest.gamma + " (" + dataset.dataset + ", "
        + data.recipe + ", " + nearest.seeds + " seeds)", "lossdemo-explorer__nearest"));
      const table = element("table", undefined, "lossdemo-explorer__measurements");
      const head = element("tr");
      ["γ", "accuracy", "ECE"].forEach(function (text) { head.appendChild(element("th", text)); });
      table.appendChild(element("thead")).appendChild(head);
      const rows = table.appendChild(element("tbody"));
      const shown = dataset.rows.filter(function (row) { return row === nearest || row.gamma === 0; });
      shown.forEach(function (row) {
        const tr = element("tr");
        tr.dataset.gamma = String(row.gamma);
        if (row === nearest) { tr.className = "lossdemo-explorer__chosen"; }
        tr.appendChild(element("td", row.gamma === 0 ? "0 (CE)" : String(row.gamma)));
        const accuracy = tr.appendChild(element("td", row.accuracy_text));
        accuracy.dataset.value = "accuracy";
        accuracy.dataset.number = String(row.accuracy);
        const ece = tr.appendChild(element("td", row.ece_text));
        ece.dataset.value = "ece";
        ece.dataset.number = String(row.ece);
        rows.appendChild(tr);
      });
      body.appendChild(table);
    });
    const what = element("p", "In percent. Accuracy: " + data.accuracy + "; ECE: " + data.ece
      + "; mean ± half-width of the 95 % interval over seeds. ", "lossdemo-explorer__small");
    const link = element("a", "The evidence: focal loss's γ");
    link.href = pageUrl(data.evidence, data.evidence_section);
    link.dataset.evidence = data.evidence;
    what.appendChild(link);
    body.appendChild(what);
  }

  // ------------------------------------------------------------------ wiring

  function readState(view) {
    const root = view.root, state = view.state;
    state.active = ORDER.filter(function (name) {
      const box = root.querySelector("input[type=checkbox][value=" + name + "]");
      return box && box.checked;
    });
    root.querySelectorAll("input[type=range][data-setting]").forEach(function (slider) {
      state.settings[slider.dataset.setting] = Number(slider.value);
    });
    state.p = state.settings.p;
    root.querySelectorAll("output[data-show]").forEach(function (shown) {
      shown.textContent = String(state.settings[shown.dataset.show]);
    });
  }

  function update(view, recolour) {
    readState(view);
    if (recolour || !view.state.colours) { view.state.colours = colours(view.root); }
    view.state.axes = axes(view.state);
    draw(view);
    writeReadout(view);
    writeMeasured(view);
  }

  function probabilityAt(view, event) {  // p_y under the pointer, or null outside every panel
    const bounds = view.canvas.getBoundingClientRect();
    const x = event.clientX - bounds.left, y = event.clientY - bounds.top;
    const box = view.plan.boxes.find(function (b) {
      return view.plan.row ? x >= b.x0 - 20 && x <= b.x1 + 20 : y >= b.y1 - 30 && y <= b.y0 + 36;
    });
    return box ? (x - box.x0) / (box.x1 - box.x0) : null;
  }

  function setProbability(view, p) {
    const slider = view.root.querySelector("input[type=range][data-setting=p]");
    const low = Number(slider.min), high = Number(slider.max), step = Number(slider.step) || 0.01;
    const snapped = Math.min(high, Math.max(low, Math.round(p / step) * step));
    slider.value = String(Math.round(snapped * 1e6) / 1e6);
    update(view, false);
  }

  function setUp(root) {
    if (root.dataset.ready) { return; }
    root.dataset.ready = "yes";
    const view = { root: root, canvas: root.querySelector("canvas"), state: { settings: {} }, redraws: 0,
      measured: measured() };
    views.push(view);
    root.querySelectorAll("input").forEach(function (input) {
      input.addEventListener("input", function () { update(view, false); });
      input.addEventListener("change", function () { update(view, false); });
    });
    let dragging = null;
    view.canvas.addEventListener("pointerdown", function (event) {
      const p = probabilityAt(view, event);
      if (p === null) { return; }
      dragging = event.pointerId;
      view.canvas.setPointerCapture(event.pointerId);
      setProbability(view, p);
      event.preventDefault();
    });
    view.canvas.addEventListener("pointermove", function (event) {
      if (dragging !== event.pointerId) { return; }
      const p = probabilityAt(view, event);
      if (p !== null) { setProbability(view, p); }
    });
    ["pointerup", "pointercancel"].forEach(function (type) {
      view.canvas.addEventListener(type, function () { dragging = null; });
    });
    if (window.ResizeObserver) {
      let width = view.canvas.clientWidth;
      new ResizeObserver(function () {
        if (view.canvas.clientWidth !== width) { width = view.canvas.clientWidth; draw(view); }
      }).observe(view.canvas);
    }
    update(view, true);
  }

  function setUpAll() {
    // Material's instant navigation replaces the page: forget explorers that left it.
    for (let i = views.length - 1; i >= 0; i -= 1) {
      if (!document.body.contains(views[i].root)) { views.splice(i, 1); }
    }
    document.querySelectorAll(".lossdemo-explorer").forEach(setUp);
  }

  // The reader's colour scheme (Material's palette toggle, or the system's) lives on the body.
  new MutationObserver(function () {
    views.forEach(function (view) { update(view, true); });
  }).observe(document.body, { attributes: true, attributeFilter: ["data-md-color-scheme", "data-md-color-primary"] });

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(setUpAll);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpAll);
  } else {
    setUpAll();
  }
})();
