// Herald dashboard: small progressive enhancements. Every page works without it.
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // Show <time> elements in the browser's time zone.
  function localize(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
        pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    });
  }

  function poll(url, onText, interval) {
    var stopped = false;
    function tick() {
      if (stopped) return;
      if (document.hidden) { setTimeout(tick, interval); return; }
      fetch(url(), { headers: { "X-Herald-Live": "1" }, credentials: "same-origin" }).then(function (r) {
        if (r.status === 401) { stopped = true; showSignedOut(); return null; }
        return r.ok ? r.text() : null;
      }).then(function (text) {
        if (text !== null && text !== undefined && onText(text) === false) stopped = true;
      }).catch(function () {}).then(function () {
        if (!stopped) setTimeout(tick, interval);
      });
    }
    setTimeout(tick, interval);
  }

  function showSignedOut() {
    var live = document.querySelectorAll(".live");
    live.forEach(function (el) { el.textContent = "signed out"; el.classList.add("off"); });
  }

  // Events page: new events are added at the top as they arrive.
  function liveEvents() {
    var body = document.querySelector("tbody[data-live]");
    if (!body) return;
    var base = body.getAttribute("data-live");
    poll(function () {
      return base + (base.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(body.getAttribute("data-after") || "");
    }, function (html) {
      if (!html.trim()) return;
      var t = document.createElement("template");
      t.innerHTML = html.trim();
      var rows = t.content.querySelectorAll("tr");
      if (!rows.length) return;
      rows.forEach(function (r) { r.classList.add("new"); });
      localize(t.content);
      body.setAttribute("data-after", rows[0].getAttribute("data-id"));
      body.insertBefore(t.content, body.firstChild);
      var empty = document.getElementById("no-events");
      if (empty) empty.hidden = true;
      while (body.rows.length > 200) body.deleteRow(body.rows.length - 1);
    }, 1000);
  }

  // Run page: refresh the run until it ends.
  function liveRun() {
    var el = document.getElementById("run-body");
    if (!el || el.getAttribute("data-done") === "true") return;
    var url = el.getAttribute("data-live");
    poll(function () { return url; }, function (html) {
      var cur = document.getElementById("run-body");
      var t = document.createElement("template");
      t.innerHTML = html.trim();
      var next = t.content.firstElementChild;
      if (!next || !cur) return false;
      localize(next);
      cur.replaceWith(next);
      wireConfirm(next);
      return next.getAttribute("data-done") !== "true";
    }, 1000);
  }

  // JSON fields: validated as you type, and before the form is sent.
  function checkJSON(ta) {
    var v = ta.value.trim();
    if (v === "") return ""; // an empty input is {}
    try {
      var parsed = JSON.parse(v);
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return "The input must be a JSON object, like {\"user_id\": \"u_1\"}.";
      return "";
    } catch (e) {
      return "The input is not valid JSON: " + e.message;
    }
  }

  function jsonForms() {
    document.querySelectorAll("textarea[data-json]").forEach(function (ta) {
      var form = ta.form;
      var err = form.querySelector(".field-error");
      function update() {
        var msg = checkJSON(ta);
        ta.classList.toggle("invalid", !!msg);
        ta.setAttribute("aria-invalid", msg ? "true" : "false");
        if (err) { err.textContent = msg; err.hidden = !msg; }
        var btn = form.querySelector("button.primary");
        if (btn) btn.disabled = !!msg;
        return msg;
      }
      ta.addEventListener("input", update);
      form.addEventListener("submit", function (e) {
        if (update()) { e.preventDefault(); ta.focus(); }
      });
      if (ta.value.trim() !== "" && ta.closest("[data-json-form]")) update();
    });
  }

  function wireConfirm(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.addEventListener("click", function () {
        var input = b.parentElement.querySelector("input");
        input.select();
        var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 1500); };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
        } else {
          document.execCommand("copy");
          done();
        }
      });
    });
  }

  function webhookForm() {
    var src = document.getElementById("wh-source");
    var generic = document.querySelector(".generic-only");
    if (!src || !generic) return;
    function update() { generic.hidden = src.value !== "generic"; }
    src.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    document.querySelectorAll("input[data-tz]").forEach(function (el) { el.value = String(new Date().getTimezoneOffset()); });
    liveEvents();
    liveRun();
    jsonForms();
    wireConfirm(document);
    copyButtons();
    webhookForm();
  });
})();
