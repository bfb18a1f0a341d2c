// audience.js enhances the audience screens where scripts run: copy
// buttons for the subscribe link and form, and a live import progress
// bar. Without it the link and form can be selected by hand, and the
// progress page shows the state of each reload.
'use strict';

document.querySelectorAll('[data-copy]').forEach((button) => {
  if (!navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener('click', async () => {
    const from = document.getElementById(button.dataset.copy);
    const text = from.value !== undefined ? from.value : from.textContent;
    try {
      await navigator.clipboard.writeText(text);
      const note = document.querySelector('[data-copied]');
      if (note) {
        note.hidden = false;
      }
    } catch (e) {
      if (from.select) {
        from.select();
      }
    }
  });
});

// The progress page polls its import's JSON while it runs, and reloads
// once it ends, so that the finished page (report link, times) shows.
const box = document.querySelector('[data-import][data-running]');
if (box) {
  const set = (name, value) => {
    const el = box.querySelector('[data-field="' + name + '"]');
    if (el) {
      el.textContent = value;
    }
  };
  const fmt = new Intl.NumberFormat(document.documentElement.lang === 'en' ? 'en' : 'sv');
  const poll = async () => {
    try {
      const res = await fetch(box.dataset.import, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (res.ok) {
        const imp = await res.json();
        const pct = Math.floor((imp.progress || 0) * 100);
        box.querySelector('[data-field="bar"]').value = pct;
        set('percent', pct);
        set('rows', fmt.format(imp.rows));
        set('created', fmt.format(imp.created));
        set('updated', fmt.format(imp.updated));
        set('unchanged', fmt.format(imp.unchanged));
        set('skipped', fmt.format(imp.skipped));
        if (imp.status === 'running') {
          set('status', box.dataset.runningLabel);
          const badge = box.querySelector('[data-field="status"]');
          badge.className = 'badge badge-running';
        }
        if (imp.status === 'done' || imp.status === 'failed') {
          window.location.reload();
          return;
        }
      }
    } catch (e) {
      // A failed poll is tried again; the page still works on reload.
    }
    window.setTimeout(poll, 700);
  };
  window.setTimeout(poll, 700);
}
