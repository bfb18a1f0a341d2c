// editor.js enhances the campaign editor where scripts run: block
// snippets and placeholders inserted at the cursor, autosave after a
// pause in typing (with a copy in localStorage, so a closed tab or a lost
// connection loses nothing), a live preview that follows typing, lint
// findings that jump to their line, and an image picker that wants an alt
// text. Without it the form saves and previews on its own.
'use strict';
(() => {
  document.documentElement.classList.add('js');
  const form = document.getElementById('editor-form');
  if (!form) return;
  const i18n = document.getElementById('editor-i18n').dataset;
  const fmt = (s, args) => s.replace(/\{(\w+)\}/g, (m, k) => (k in args ? args[k] : m));
  const body = document.getElementById('body');
  const status = document.getElementById('autosave-status');
  const revision = document.getElementById('revision');
  const saveURL = form.dataset.autosave;
  const grid = document.querySelector('.editor-grid');
  const key = 'utskick-draft-' + (grid.dataset.campaign || 'new');

  // Insert text at the cursor of the body (or of the focused field).
  let lastField = body;
  form.addEventListener('focusin', (e) => {
    if (e.target.matches('input[type=text], textarea')) lastField = e.target;
  });
  function insert(text, field = lastField) {
    const start = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? start;
    let t = text;
    if (field === body && text.includes('\n') && start > 0 && field.value[start - 1] !== '\n') t = '\n\n' + t;
    field.setRangeText(t, start, end, 'end');
    field.focus();
    field.dispatchEvent(new Event('input', { bubbles: true }));
  }
  const toolbar = form.querySelector('.toolbar');
  if (toolbar) {
    toolbar.hidden = false;
    toolbar.addEventListener('click', (e) => {
      const b = e.target.closest('[data-snippet]');
      if (b) insert(b.dataset.snippet, body);
    });
  }
  // Placeholders become buttons.
  for (const code of form.querySelectorAll('code[data-insert]')) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'secondary small';
    b.textContent = code.textContent;
    b.dataset.insert = code.dataset.insert;
    code.replaceWith(b);
  }
  form.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-insert]');
    if (b) insert(b.dataset.insert);
  });

  // The image picker: alt text is required.
  const pick = document.getElementById('pick-image');
  const insertImage = document.getElementById('insert-image');
  if (pick && insertImage) {
    insertImage.hidden = false;
    const alt = document.getElementById('pick-alt');
    const altError = document.getElementById('pick-alt-error');
    // The library's alt text of the picked image is offered, and
    // replaced when another image is picked unless it was edited.
    let offered = '';
    const offer = () => {
      const o = pick.selectedOptions[0];
      const next = (o && o.dataset.alt) || '';
      if (alt.value.trim() === '' || alt.value === offered) alt.value = next;
      offered = next;
    };
    pick.addEventListener('change', offer);
    offer();
    insertImage.addEventListener('click', () => {
      const a = alt.value.trim().replace(/[\]\n]/g, ' ');
      if (!a) {
        altError.hidden = false;
        alt.setAttribute('aria-invalid', 'true');
        alt.focus();
        return;
      }
      altError.hidden = true;
      alt.removeAttribute('aria-invalid');
      const cap = document.getElementById('pick-caption').value.trim().replace(/"/g, '”');
      insert('![' + a + '](' + pick.value + (cap ? ' "' + cap + '"' : '') + ')\n', body);
      alt.value = '';
      offer();
    });
  }

  // Findings: a line number moves the cursor to that line.
  const findings = document.getElementById('findings');
  function goToLine(n) {
    const lines = body.value.split('\n');
    let pos = 0;
    for (let i = 0; i < n - 1 && i < lines.length; i++) pos += lines[i].length + 1;
    body.focus();
    body.setSelectionRange(pos, pos + (lines[n - 1] || '').length);
    const lh = parseFloat(getComputedStyle(body).lineHeight) || 20;
    body.scrollTop = Math.max(0, (n - 3) * lh);
  }
  function renderFindings(list) {
    if (!findings) return;
    findings.textContent = '';
    if (!list || list.length === 0) {
      const li = document.createElement('li');
      li.className = 'finding finding-ok';
      li.textContent = i18n.none;
      findings.append(li);
      return;
    }
    for (const f of list) {
      const li = document.createElement('li');
      li.className = 'finding finding-' + f.severity;
      if (f.line) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'link line';
        b.textContent = fmt(i18n.line, { n: f.line });
        b.addEventListener('click', () => goToLine(f.line));
        li.append(b, ' ');
      }
      li.append(f.message);
      if (f.blocking) {
        const s = document.createElement('strong');
        s.textContent = ' ' + i18n.blocking;
        li.append(s);
      }
      findings.append(li);
    }
  }
  if (findings) {
    for (const li of findings.querySelectorAll('li[data-line]')) {
      const span = li.querySelector('.line');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'link line';
      b.textContent = span.textContent;
      b.addEventListener('click', () => goToLine(Number(li.dataset.line)));
      span.replaceWith(b);
    }
  }

  // The live preview follows typing: after a short pause the form's
  // fields as they are, unsaved, are posted to the preview (which
  // compiles them as a save would, and writes nothing). The HTML goes
  // into a fresh frame that replaces the shown one once it has loaded,
  // so the page does not flicker and the back button does not step
  // through previews; the text part is fetched beside it.
  let frame = document.getElementById('preview-frame');
  const controls = document.getElementById('preview-controls');
  const textPart = document.getElementById('text-preview');
  const previewURL = form.dataset.preview;
  function previewQuery() {
    const q = new URLSearchParams(new FormData(controls));
    q.delete('width');
    return q;
  }
  let previewSeq = 0;
  let pending = null;
  async function refreshPreview() {
    if (!frame || !previewURL) return;
    const seq = ++previewSeq;
    const d = fields();
    const q = previewQuery();
    if (pending) pending.remove();
    const next = frame.cloneNode(false);
    next.removeAttribute('src');
    next.removeAttribute('id');
    next.name = 'preview-frame-' + seq;
    next.hidden = true;
    pending = next;
    frame.after(next);
    next.addEventListener('load', () => {
      if (next !== pending) return;
      pending = null;
      frame.remove();
      next.hidden = false;
      next.id = 'preview-frame';
      frame = next;
    }, { once: true });
    const post = document.createElement('form');
    post.method = 'post';
    post.action = previewURL + '?' + q;
    post.target = next.name;
    post.hidden = true;
    for (const [k, v] of d) {
      const i = document.createElement('textarea');
      i.name = k;
      i.value = v;
      post.append(i);
    }
    document.body.append(post);
    post.submit();
    post.remove();
    q.set('format', 'text');
    try {
      const r = await fetch(previewURL + '?' + q, { method: 'POST', body: new URLSearchParams(d), credentials: 'same-origin' });
      const text = await r.text();
      if (seq === previewSeq) textPart.textContent = text;
    } catch { /* the frame shows the state */ }
  }
  let previewTimer = 0;
  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, 400);
  }
  if (controls) {
    controls.addEventListener('change', (e) => {
      if (e.target.name === 'width') {
        frame.classList.toggle('phone', e.target.value === 'phone');
        if (pending) pending.classList.toggle('phone', e.target.value === 'phone');
      } else if (e.target.name !== 'as') refreshPreview();
    });
    controls.addEventListener('submit', (e) => { e.preventDefault(); refreshPreview(); });
  }

  // Autosave.
  const fields = () => {
    const d = new FormData(form);
    d.delete('action');
    return d;
  };
  function snapshot() {
    const d = fields();
    const o = { rev: Number(revision.value), at: Date.now(), fields: {} };
    for (const [k, v] of d) {
      if (k === 'csrf' || k === 'revision') continue;
      (o.fields[k] ||= []).push(v);
    }
    return o;
  }
  function backup() {
    try { localStorage.setItem(key, JSON.stringify(snapshot())); } catch { /* private mode: the server copy remains */ }
  }
  function dropBackup() { try { localStorage.removeItem(key); } catch { /* ignore */ } }

  let dirty = false;
  let timer = 0;
  let inFlight = false;
  let again = false;
  function say(text, failed) {
    status.textContent = text;
    status.classList.toggle('failed', !!failed);
  }
  async function save() {
    if (!saveURL) return;
    if (inFlight) { again = true; return; }
    inFlight = true;
    say(i18n.saving);
    const sent = body.value;
    try {
      const r = await fetch(saveURL, { method: 'POST', body: new URLSearchParams(fields()), credentials: 'same-origin',
        headers: { Accept: 'application/json' } });
      const ans = await r.json().catch(() => null);
      if (!ans) {
        say(fmt(i18n.failed, { error: r.status + ' ' + r.statusText }), true);
      } else if (ans.saved) {
        revision.value = ans.revision;
        say(fmt(i18n.saved, { time: ans.saved_at, rev: ans.revision }));
        if (body.value === sent) { dirty = false; dropBackup(); } else backup();
        clearConflict();
        renderFindings(ans.findings);
      } else if (ans.conflict) {
        showConflict(ans);
      } else {
        const msg = Object.values(ans.errors || {}).join(' ');
        say(fmt(i18n.failed, { error: msg }), true);
        renderFindings(ans.findings);
      }
    } catch {
      say(i18n.offline, true);
    } finally {
      inFlight = false;
      if (again) { again = false; schedule(); }
    }
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(save, 800);
  }
  form.addEventListener('input', (e) => {
    if (e.target.closest('#preview-controls')) return;
    dirty = true;
    backup();
    if (saveURL) { schedule(); schedulePreview(); }
  });
  form.addEventListener('change', (e) => {
    if (e.target.name === 'list_ids') { dirty = true; backup(); if (saveURL) { schedule(); schedulePreview(); } }
  });
  form.addEventListener('submit', (e) => {
    if (e.submitter && e.submitter.id === 'preview-unsaved') {
      // Scripts show the same preview in place, with the chosen reader.
      e.preventDefault();
      refreshPreview();
      return;
    }
    dropBackup();
    dirty = false;
  });
  window.addEventListener('beforeunload', (e) => {
    if (dirty) { backup(); e.preventDefault(); }
  });

  // A conflict: someone saved since this page's revision. Both texts are
  // shown; nothing is overwritten until the writer says so.
  let conflictBox = null;
  function clearConflict() { if (conflictBox) { conflictBox.remove(); conflictBox = null; } }
  function showConflict(ans) {
    say(ans.message, true);
    clearConflict();
    conflictBox = document.createElement('div');
    conflictBox.className = 'flash flash-error conflict';
    conflictBox.id = 'conflict';
    conflictBox.setAttribute('role', 'alert');
    const p = document.createElement('p');
    p.textContent = ans.message;
    const lab = document.createElement('label');
    lab.htmlFor = 'theirs-body';
    lab.textContent = i18n.theirs;
    const ta = document.createElement('textarea');
    ta.id = 'theirs-body';
    ta.readOnly = true;
    ta.rows = 8;
    ta.value = ans.theirs.body;
    const actions = document.createElement('div');
    actions.className = 'actions';
    const keep = document.createElement('button');
    keep.type = 'button';
    keep.id = 'keep-mine';
    keep.textContent = i18n.keep;
    keep.addEventListener('click', () => { revision.value = ans.theirs.revision; clearConflict(); save(); });
    actions.append(keep);
    conflictBox.append(p, lab, ta, actions);
    grid.before(conflictBox);
    conflictBox.scrollIntoView({ block: "nearest" });
  }

  // Text left in this browser by a closed tab or a lost connection comes
  // back, with the revision it was written from: if someone saved since,
  // the next save reports the conflict instead of overwriting.
  try {
    const saved = JSON.parse(localStorage.getItem(key) || 'null');
    if (saved && saved.fields && (saved.fields.body || [''])[0] !== body.value.replace(/\r\n/g, '\n') && (saved.fields.body || [''])[0] !== body.value) {
      for (const [k, vs] of Object.entries(saved.fields)) {
        const els = form.querySelectorAll(`[name="${k}"]`);
        if (k === 'list_ids') {
          for (const el of els) el.checked = vs.includes(el.value);
        } else if (els[0]) {
          els[0].value = vs[0];
        }
      }
      if (saveURL && saved.rev) revision.value = saved.rev;
      dirty = true;
      say(i18n.restored);
      if (saveURL) { schedule(); schedulePreview(); }
    }
  } catch { /* nothing to restore */ }
})();
