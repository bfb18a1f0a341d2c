// app.js enhances the staff workspace where scripts run. Nothing here is
// needed: every action is a link or a form that works without it.
'use strict';

// A button marked data-confirm asks first, for actions that cannot be
// undone; without scripts the server-side rules still hold.
document.addEventListener('click', (event) => {
  const button = event.target.closest('[data-confirm]');
  if (button && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});
