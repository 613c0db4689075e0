// Typeset math with the vendored KaTeX (no network).
//
// Markdown pages: pymdownx.arithmatex (generic mode) leaves each formula in an element with class
// "arithmatex", wrapped in \( \) (inline) or \[ \] (display).
// Notebook pages: mkdocs-jupyter renders Markdown cells without touching $...$ and $$...$$, so
// those cells are handed to KaTeX's auto-render.
// Errors go to console.error, which the browser test treats as a failure.

(function () {
  "use strict";

  function renderArithmatex(root) {
    root.querySelectorAll(".arithmatex").forEach(function (element) {
      if (element.querySelector(".katex")) {
        return; // already typeset
      }
      var source = element.textContent.trim();
      var displayMode = source.startsWith("\\[");
      var tex = source.replace(/^\\[([]/, "").replace(/\\[)\]]$/, "");
      try {
        katex.render(tex, element, { displayMode: displayMode, throwOnError: true });
      } catch (error) {
        console.error("KaTeX could not typeset", JSON.stringify(tex), error.message);
      }
    });
  }

  function renderNotebookCells(root) {
    root.querySelectorAll(".jupyter-wrapper .jp-RenderedMarkdown").forEach(function (cell) {
      renderMathInElement(cell, {
        delimiters: [
          { left: "$$", right: "$$", display: true },
          { left: "\\[", right: "\\]", display: true },
          { left: "$", right: "$", display: false },
          { left: "\\(", right: "\\)", display: false },
        ],
        throwOnError: true,
        errorCallback: function (message, error) {
          console.error(message, error && error.message);
        },
      });
    });
  }

  function renderAll() {
    renderArithmatex(document.body);
    renderNotebookCells(document.body);
  }

  // Material publishes each page load on document$ (also with instant navigation);
  // fall back to the plain DOM event if it is absent.
  if (typeof document$ !== "undefined") {
    document$.subscribe(renderAll);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
})();
