// Progressive enhancement only: every page works without JavaScript.
(function () {
  "use strict";
  // Login method switch (Certyfikat / Profil Zaufany).
  function showMethod() {
    var checked = document.querySelector('input[name=method]:checked');
    var panels = document.querySelectorAll('.method-panel');
    if (!checked || panels.length === 0) return;
    panels.forEach(function (p) { p.hidden = p.getAttribute('data-method') !== checked.value; });
  }
  document.querySelectorAll('input[name=method]').forEach(function (r) {
    r.addEventListener('change', showMethod);
  });
  showMethod();

  // The header's firm switch: one click (the button stays for use without JavaScript).
  document.querySelectorAll('select[data-autosubmit]').forEach(function (sel) {
    sel.addEventListener('change', function () { if (sel.form) sel.form.submit(); });
  });

  // Confirmation before destructive actions (Usuń).
  document.querySelectorAll('form[data-confirm]').forEach(function (f) {
    f.addEventListener('submit', function (ev) {
      if (!window.confirm(f.getAttribute('data-confirm'))) ev.preventDefault();
    });
  });

  // Long waits (login, token activation): show #progress and block double submits.
  document.querySelectorAll('form[data-progress]').forEach(function (f) {
    f.addEventListener('submit', function (ev) {
      if (ev.defaultPrevented) return;
      var p = document.getElementById('progress');
      if (p) p.hidden = false;
      f.querySelectorAll('button[type=submit]').forEach(function (b) { b.disabled = true; });
    });
  });

  // Copy the generated token.
  var copy = document.getElementById('copy-token');
  if (copy) {
    copy.addEventListener('click', function () {
      var el = document.getElementById(copy.getAttribute('data-copy-target'));
      if (!el) return;
      var text = el.textContent.trim();
      var done = function () { copy.textContent = 'Skopiowano'; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { selectText(el); });
      } else {
        selectText(el);
        try { if (document.execCommand('copy')) done(); } catch (e) { /* user copies with Ctrl+C */ }
      }
    });
  }
  function selectText(el) {
    var r = document.createRange();
    r.selectNodeContents(el);
    var s = window.getSelection();
    s.removeAllRanges();
    s.addRange(r);
  }

  // Time left to sign the Profil Zaufany request.
  var dl = document.getElementById('pz-deadline');
  if (dl) {
    var deadline = parseInt(dl.getAttribute('data-deadline-ms'), 10);
    var tick = function () {
      var left = Math.max(0, Math.floor((deadline - Date.now()) / 1000));
      var m = Math.floor(left / 60), s = left % 60;
      dl.textContent = left > 0 ? (m + ':' + (s < 10 ? '0' : '') + s) : 'czas minął — przygotuj nowy plik';
      if (left > 0) window.setTimeout(tick, 1000);
    };
    tick();
  }
})();
