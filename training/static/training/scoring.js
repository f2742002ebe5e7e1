/* Calibrate scoring page: autosave each rating to the API as the trainee works.
 *
 * Without JavaScript every rating form still saves with its own button. With it, every change
 * is kept in localStorage until the server confirms it (so a reload, a lost connection or a
 * server restart loses nothing), sent with the rating's revision (a stale tab gets 409 and
 * never overwrites newer work), retried with back-off, and the status line always says
 * whether the work is saved, unsaved or being retried. Totals and bands shown come from the
 * server's response, never from arithmetic here.
 */
(function () {
  "use strict";

  var DEBOUNCE_MS = 700;
  var MAX_BACKOFF_MS = 30000;

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function storageKey(form) {
    return ["calibrate", form.dataset.attempt, form.dataset.vignette, form.dataset.instrument].join(":");
  }

  function readPending(form) {
    try {
      var raw = window.localStorage.getItem(storageKey(form));
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return null;
    }
  }

  function writePending(form, pending) {
    try {
      if (pending) {
        window.localStorage.setItem(storageKey(form), JSON.stringify(pending));
      } else {
        window.localStorage.removeItem(storageKey(form));
      }
    } catch (e) {
      /* storage full or disabled: the in-memory retry still runs */
    }
  }

  function collect(form) {
    var data = {
      vignette: form.dataset.vignette,
      instrument: form.dataset.instrument,
      revision: parseInt(form.elements.revision.value, 10) || 0,
      items: {},
      notes: {},
      rationale: form.elements.rationale ? form.elements.rationale.value : ""
    };
    var applicable = form.querySelector("input[name=applicable]:checked");
    data.applicable = applicable ? applicable.value === "yes" : null;
    form.querySelectorAll("input[type=radio][name^='item-']:checked").forEach(function (input) {
      var code = input.name.slice(5);
      data.items[code] = input.value === "omit" ? null : parseInt(input.value, 10);
    });
    form.querySelectorAll("textarea[name^='note-']").forEach(function (area) {
      data.notes[area.name.slice(5)] = area.value;
    });
    return data;
  }

  function apply(form, data) {
    if (data.applicable !== null && data.applicable !== undefined) {
      var app = form.querySelector("input[name=applicable][value=" + (data.applicable ? "yes" : "no") + "]");
      if (app) { app.checked = true; }
    }
    Object.keys(data.items || {}).forEach(function (code) {
      var value = data.items[code] === null ? "omit" : String(data.items[code]);
      form.querySelectorAll("input[type=radio]").forEach(function (input) {
        if (input.name === "item-" + code && input.value === value) { input.checked = true; }
      });
    });
    Object.keys(data.notes || {}).forEach(function (code) {
      var area = form.elements["note-" + code];
      if (area) { area.value = data.notes[code]; }
    });
    if (form.elements.rationale && typeof data.rationale === "string") {
      form.elements.rationale.value = data.rationale;
    }
  }

  function Saver(form) {
    this.form = form;
    this.status = form.querySelector(".save-status");
    this.timer = null;
    this.inflight = false;
    this.dirtySince = 0;   // change counter not yet confirmed
    this.changes = 0;
    this.backoff = 1000;
    this.stopped = false;
  }

  Saver.prototype.setStatus = function (state, text) {
    if (!this.status) { return; }
    this.status.dataset.state = state;
    this.status.textContent = text;
  };

  Saver.prototype.changed = function () {
    if (this.stopped) { return; }
    this.changes += 1;
    writePending(this.form, { base: parseInt(this.form.elements.revision.value, 10) || 0, data: collect(this.form) });
    this.setStatus("unsaved", "Unsaved changes");
    this.schedule(DEBOUNCE_MS);
  };

  Saver.prototype.schedule = function (delay) {
    var self = this;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(function () { self.save(); }, delay);
  };

  Saver.prototype.save = function () {
    var self = this;
    if (this.inflight || this.stopped) { return; }
    var sentAt = this.changes;
    var body = collect(this.form);
    this.inflight = true;
    this.setStatus("saving", "Saving…");
    fetch(this.form.dataset.api, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { status: response.status, json: json };
      });
    }).then(function (result) {
      self.inflight = false;
      if (result.status === 200) {
        self.backoff = 1000;
        self.form.elements.revision.value = result.json.revision;
        self.showTotals(result.json);
        // Done: judged not applicable, or applicable with every item scored.
        var done = result.json.applicable === false || (result.json.applicable === true && result.json.complete);
        self.form.dataset.complete = done ? "true" : "false";
        updateCaseTab();
        if (self.changes === sentAt) {
          writePending(self.form, null);
          self.setStatus("saved", "Saved");
        } else {
          writePending(self.form, { base: result.json.revision, data: collect(self.form) });
          self.schedule(0);
        }
      } else if (result.status === 409) {
        self.stopped = true;
        var detail = (result.json && result.json.detail) || "This work changed elsewhere.";
        self.setStatus("conflict", detail + " Reload the page.");
        if (result.json && result.json.code !== "stale_revision") {
          writePending(self.form, null);
          self.form.querySelectorAll("input, textarea, button").forEach(function (el) { el.disabled = true; });
          showAlert(detail + " Reload the page to see the result.");
        }
      } else if (result.status === 400 || result.status === 413) {
        self.setStatus("error", "Not saved: " + describe(result.json));
      } else if (result.status === 403 || result.status === 401) {
        self.setStatus("error", "Not saved: you are signed out. Sign in again in another tab; your work is kept here.");
        self.retryLater();
      } else {
        self.retryLater();
      }
    }).catch(function () {
      self.inflight = false;
      self.retryLater();
    });
  };

  // The current case's tab says "done" once every instrument's rating on the page is complete.
  function updateCaseTab() {
    var state = document.querySelector(".tabs a[aria-current=page] .tab-state");
    if (!state) { return; }
    var forms = document.querySelectorAll("form.rating-form");
    var done = forms.length > 0;
    forms.forEach(function (f) { if (f.dataset.complete !== "true") { done = false; } });
    state.textContent = done ? state.dataset.doneText : state.dataset.notDoneText;
    state.classList.toggle("done", done);
    state.classList.toggle("not-done", !done);
  }

  Saver.prototype.retryLater = function () {
    this.setStatus("retrying", "Connection problem: retrying…");
    this.schedule(this.backoff);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
  };

  Saver.prototype.showTotals = function (json) {
    var total = this.form.querySelector("output.total");
    var band = this.form.querySelector("output.band");
    if (total) { total.textContent = json.total; }
    if (band) {
      band.textContent = json.applicable === false ? "none (judged not applicable)"
        : (json.band_label || "not yet (unscored items)");
    }
  };

  /* The page-level message at the top (the save status sits beside each form's button). */
  function showAlert(text) {
    var alert = document.getElementById("attempt-alert");
    if (!alert) { return; }
    alert.textContent = text;
    alert.hidden = false;
  }

  function describe(json) {
    if (!json || typeof json !== "object") { return "the server refused the data."; }
    return Object.keys(json).map(function (key) {
      var value = json[key];
      return key + ": " + (Array.isArray(value) ? value.join(" ") : value);
    }).join("; ");
  }

  function init() {
    var savers = [];
    document.querySelectorAll("form.rating-form").forEach(function (form) {
      if (!form.querySelector(".save-status")) { return; }
      var saver = new Saver(form);
      savers.push(saver);
      form.addEventListener("change", function (event) {
        // A textarea's edits arrive as input events; its change event on blur carries nothing
        // new and would mark saved work as unsaved (and prompt when leaving the page).
        if (event.target.tagName !== "TEXTAREA") { saver.changed(); }
      });
      form.addEventListener("input", function (event) {
        if (event.target.tagName === "TEXTAREA") { saver.changed(); }
      });
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        saver.changes += 1;
        saver.save();
      });
      var pending = readPending(form);
      if (pending && pending.data) {
        var current = parseInt(form.elements.revision.value, 10) || 0;
        if (pending.base === current) {
          apply(form, pending.data);
          saver.changed();
        } else {
          writePending(form, null);
          saver.setStatus("conflict", "Changes from an older copy of this page were not applied: newer work was saved.");
        }
      }
    });
    window.addEventListener("beforeunload", function (event) {
      var unsaved = savers.some(function (s) { return s.status && s.status.dataset.state !== "saved" && s.status.dataset.state !== "new" && !s.stopped; });
      if (unsaved) { event.preventDefault(); event.returnValue = ""; }
    });
    // The deadline itself is written by the server, in the organisation's zone with the zone
    // named; the page only counts the time left.
    var deadline = document.getElementById("deadline");
    var remaining = document.getElementById("deadline-left");
    if (deadline && remaining) {
      var end = new Date(deadline.getAttribute("datetime"));
      var timer = null;
      var tick = function () {
        var left = Math.max(0, Math.round((end - new Date()) / 1000));
        var minutes = Math.floor(left / 60);
        remaining.textContent = "(" + minutes + " min " + (left % 60) + " s left)";
        if (left === 0) {
          window.clearInterval(timer);
          showAlert("The time is over: your saved work is kept; further changes are not saved.");
        }
      };
      timer = window.setInterval(tick, 1000);
      tick();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
