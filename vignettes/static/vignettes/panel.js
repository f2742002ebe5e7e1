/* Reference panel forms: an instrument judged "does not apply" gets no item coding, so its
   items table is hidden (the server ignores it either way; without JavaScript it stays). */
(function () {
  "use strict";

  function sync(form, name) {
    var table = form.querySelector('table[data-items-of="' + name + '"]');
    if (!table) { return; }
    var chosen = form.querySelector('input[name="' + name + '"]:checked');
    table.hidden = Boolean(chosen && chosen.value === "no");
  }

  function init() {
    document.querySelectorAll("form.panel-form").forEach(function (form) {
      var names = {};
      form.querySelectorAll('input[type=radio][name$="applicable"]').forEach(function (radio) {
        names[radio.name] = true;
        radio.addEventListener("change", function () { sync(form, radio.name); });
      });
      Object.keys(names).forEach(function (name) { sync(form, name); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
