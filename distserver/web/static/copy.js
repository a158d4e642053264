// Progressive enhancement: a "Copy" button after each element marked data-copy.
// Pages work without it (the text is selectable); CSP allows this file only.
(function () {
  "use strict";
  function add(el) {
    if (!navigator.clipboard) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy " + (el.getAttribute("data-copy") || "to the clipboard"));
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(el.textContent.trim()).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      });
    });
    var after = el.parentElement.tagName === "PRE" ? el.parentElement : el;
    after.insertAdjacentElement("afterend", button);
  }
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), add);
  });
})();
