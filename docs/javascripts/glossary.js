// Hover definitions for loss codes in code spans (`gce:0.7`). MkDocs' abbr extension defines terms
// that appear as words; code spans are out of its reach, so the generated glossary appended to every
// page (docs/generated/glossary.md) also carries its definitions as JSON, and this script gives each
// matching inline code element a title and a dotted underline.
(function () {
  "use strict";

  function annotate() {
    const source = document.getElementById("lossdemo-glossary");
    if (!source) return;
    const entries = JSON.parse(source.textContent);
    document.querySelectorAll(".md-typeset code").forEach(function (code) {
      if (code.closest("pre") || code.hasAttribute("title")) return;
      const definition = entries[code.textContent.trim()];
      if (definition) {
        code.setAttribute("title", definition);
        code.classList.add("lossdemo-term");
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", annotate);
  } else {
    annotate();
  }
})();
