// reports.js keeps the campaign page's progress current while the
// campaign may change, by polling its JSON. Without scripts the page is
// the same, current as of its last load.
'use strict';

(() => {
  const box = document.querySelector('[data-progress-url]');
  if (!box) {
    return;
  }
  const url = box.dataset.progressUrl;
  let status = box.dataset.status;
  const announce = box.querySelector('[data-announce]');
  const bar = box.querySelector('[data-bar]');
  let failures = 0;

  const poll = async () => {
    let p;
    try {
      const res = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' });
      if (!res.ok) {
        throw new Error(String(res.status));
      }
      p = await res.json();
      failures = 0;
    } catch (e) {
      failures += 1; // the server may be restarting: wait longer, then give up
      if (failures < 10) {
        window.setTimeout(poll, 2000 * failures);
      }
      return;
    }
    for (const [key, text] of Object.entries(p.text)) {
      for (const el of box.querySelectorAll(`[data-field="${key}"]`)) {
        el.textContent = text;
      }
    }
    if (bar) {
      bar.max = Math.max(p.recipients, 1);
      bar.value = p.done;
    }
    if (p.status !== status) {
      // The controls and the guardrail notice depend on the status: load
      // the page again, after saying what happened.
      status = p.status;
      if (announce) {
        announce.textContent = p.text.status;
      }
      window.setTimeout(() => window.location.reload(), 1500);
      return;
    }
    if (['scheduled', 'sending', 'paused'].includes(p.status)) {
      window.setTimeout(poll, 2000);
    }
  };
  window.setTimeout(poll, 2000);
})();
