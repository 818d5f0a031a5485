// Copy buttons: <button type="button" data-copy-target="element-id">Copy</button>.
// Uses the Clipboard API; where it is unavailable or refused, selects the text for Ctrl+C.
(function () {
  "use strict";

  function selectText(element) {
    if (element instanceof HTMLInputElement || element instanceof HTMLTextAreaElement) {
      element.focus();
      element.select();
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function say(button, text) {
    if (!button.dataset.label) {
      button.dataset.label = button.textContent;
    }
    button.textContent = text;
    window.clearTimeout(button._copyTimer);
    button._copyTimer = window.setTimeout(function () {
      button.textContent = button.dataset.label;
    }, 2500);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy-target]");
    if (!button) {
      return;
    }
    var target = document.getElementById(button.dataset.copyTarget);
    if (!target) {
      return;
    }
    var text = ("value" in target ? target.value : target.textContent).trim();
    var fallback = function () {
      selectText(target);
      say(button, "Selected: press Ctrl+C");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () {
        say(button, "Copied");
      }, fallback);
    } else {
      fallback();
    }
  });
})();
