// audience.mjs walks the audience screens of the staff workspace in
// headless Chromium as an editor would: create the BUS list (with a
// mistake first), import a CSV while watching the progress bar, download
// the report of skipped rows, search a person, change their lists, erase
// them, suppress an address; then as a viewer: no write controls, and a
// forged POST with the viewer's own session is refused. Pages run under
// their real Content-Security-Policy; every page is checked with
// axe-core (WCAG 2.1 A/AA) in light and dark. Prints one JSON object for
// TestAudienceInChromium.
//
// Environment: BASE_URL, CHROMIUM, CSV (the file to import), SCREENSHOTS
// (optional directory for the documentation's screenshots).
import fs from 'node:fs';
import { base, need, output, openPage, checker, shooter, clickAndWait, signIn as signInAs, run } from './harness.mjs';

need('CSV');
const csvPath = process.env.CSV;
const out = output({ progress: [], viewerForms: [] });
const step = (s) => out.steps.push(s);

await run(out, async (browser) => {
  const { page } = await openPage(browser, out, { timeout: 20000, acceptDownloads: true });
  const check = checker(page, out);
  const shot = shooter(page);
  const submit = (selector) => clickAndWait(page, selector);
  const signIn = (email) => signInAs(page, email);

  // 1. Sign in as an editor; lists are empty and say what to do.
  await signIn('redaktor@example.se');
  await page.click('nav a[href="/admin/lists"]');
  // The test seeds one other list; the empty state is seen on imports.
  await check('lists-empty');

  // 2. Create the BUS list, first with a slug that is not allowed.
  await page.click('a[href="/admin/lists/new"]');
  await check('list-new');
  await page.fill('#name', 'BUS');
  await page.fill('#slug', 'BUS lista');
  await page.fill('#description', 'Nyheter om barn- och ungdomssatsningar.');
  await page.check('#visibility-public');
  await submit('form[action="/admin/lists"] button[type=submit]');
  step('slug error: ' + (await page.textContent('#slug-error')));
  await check('list-errors');
  await page.fill('#slug', 'bus');
  // The list's own sender: a from address with a name in it is refused
  // at that field (the name has a field of its own).
  await page.fill('#from_name', 'BUS-redaktionen');
  await page.fill('#from_address', 'BUS <bus@example.se>');
  await page.fill('#postal_address', 'Hornsgatan 20, 118 82 Stockholm');
  await submit('form[action="/admin/lists"] button[type=submit]');
  step('from_address error: ' + (await page.textContent('#from_address-error')));
  await check('list-sender-error');
  await shot('audience-list-sender.png');
  await page.fill('#from_address', 'bus@example.se');
  await submit('form[action="/admin/lists"] button[type=submit]');
  step('created: ' + (await page.textContent('.flash')));
  step('list sender: ' + (await page.inputValue('#from_name')) + ' <' + (await page.inputValue('#from_address')) + '>');
  await check('list');
  step('snippet starts: ' + (await page.inputValue('#snippet')).split('\n')[0]);
  await page.click('nav a[href="/admin/lists"]');
  await check('lists');

  // 3. Import: upload, review the columns, choose BUS and a basis.
  await page.click('nav a[href="/admin/imports"]');
  await check('imports-empty');
  await page.setInputFiles('#file', csvPath);
  await submit('form[enctype="multipart/form-data"] button[type=submit]');
  step('review: ' + (await page.textContent('h2#h-columns')));
  await check('import-review');
  await shot('audience-import-review.png');
  const busBox = page.locator('fieldset:has(legend:text("Listor")) label:text-is("BUS")');
  await busBox.click();
  await page.fill('#consent_basis', 'Medlemsregistret, samtycke vid anmälan 2026');
  await submit('form[action$="/start"] button[type=submit]');
  // Watch the bar until the page reloads itself as done.
  let screenshotted = false;
  const deadline = Date.now() + 120000;
  while (Date.now() < deadline) {
    const v = await page.evaluate(() => {
      const bar = document.getElementById('import-bar');
      return bar ? Number(bar.value) : null;
    }).catch(() => null);
    if (v !== null && (out.progress.length === 0 || out.progress[out.progress.length - 1] !== v)) {
      out.progress.push(v);
      if (v > 0 && v < 100 && !screenshotted) {
        screenshotted = true;
        await check('import-running');
        await shot('audience-import-progress.png');
      }
    }
    const done = await page.$('.badge-done').catch(() => null);
    if (done) break;
    await page.waitForTimeout(100);
  }
  const last = Number(await page.getAttribute('#import-bar', 'value'));
  if (out.progress[out.progress.length - 1] !== last) out.progress.push(last);
  if (!screenshotted) await check('import-running'); // too fast to catch: still check the page
  step('import: ' + (await page.textContent('.figures')));
  await check('import-done');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[data-field="rejects"]')]);
  const report = fs.readFileSync(await download.path(), 'utf8');
  out.rejectLines = report.trim().split('\n').length;
  step('rejects: ' + report.trim().split('\n').slice(1).join(' | '));
  await page.click('nav a[href="/admin/imports"]');
  await check('imports');
  await page.click('nav a[href="/admin/lists"]');
  await shot('audience-lists.png');

  // 4. Search a person by surname and open them.
  await page.click('nav a[href="/admin/subscribers"]');
  await page.fill('#q', 'lindqvist');
  await submit('form[role=search] button[type=submit]');
  out.searchResults = await page.locator('table tbody tr').count();
  await check('subscribers');
  await page.fill('#q', 'johansson');
  await submit('form[role=search] button[type=submit]');
  await shot('audience-subscribers.png');
  await page.fill('#q', 'lindqvist');
  await submit('form[role=search] button[type=submit]');
  await submit('table tbody a');
  step('person: ' + (await page.textContent('h1')));
  await check('person');

  // 5. Put her on Senaste nytt as confirmed, with a consent basis.
  const nytt = page.locator('label:text-is("Senaste nytt")');
  const selectID = await nytt.getAttribute('for');
  await page.selectOption('#' + selectID, 'confirmed');
  await page.fill('section[aria-labelledby="h-edit"] #consent_basis', 'bad om det i telefon');
  await submit('section[aria-labelledby="h-edit"] button[type=submit]');
  step('saved: ' + (await page.textContent('.flash')));
  await check('person-saved');
  await shot('audience-person.png');

  // 6. Erase her: the confirmation names her.
  await submit('a[href$="/erase"]');
  step('erase asks: ' + (await page.textContent('#h-erase')));
  await check('erase');
  await submit('form[action$="/erase"] button[type=submit]');
  step('erased: ' + (await page.textContent('.flash')));
  await check('subscribers-erased');

  // 7. Suppress an address that complained, and add a person by hand.
  await page.click('nav a[href="/admin/suppressions"]');
  await page.fill('#email', 'klagade@example.se');
  await page.selectOption('#reason', 'complaint');
  await page.fill('#note', 'ringde och klagade');
  await submit('section[aria-labelledby="h-add"] button[type=submit]');
  step('suppressed: ' + (await page.textContent('.flash')));
  await check('suppressions');
  await page.goto(`${base}/admin/subscribers/new`);
  await check('person-new');
  await submit('header form button[type=submit]');

  // 8. A viewer: every audience screen without a form that writes, and
  // a forged POST from the viewer's own session (valid CSRF token).
  await signIn('lasare@example.se');
  const viewerPages = { 'viewer-lists': '/admin/lists', 'viewer-imports': '/admin/imports' };
  for (const [name, p] of Object.entries(viewerPages)) {
    await page.goto(base + p);
    await check(name);
  }
  await page.goto(`${base}/admin/lists`);
  await submit('table tbody a');
  await check('viewer-list');
  const listURL = page.url();
  await page.goto(`${base}/admin/subscribers?q=johansson`);
  await submit('table tbody a');
  await check('viewer-person');
  for (const p of [listURL.replace(base, ''), '/admin/lists', '/admin/subscribers', page.url().replace(base, ''), '/admin/imports', '/admin/suppressions']) {
    await page.goto(base + p);
    const forms = await page.$$eval('form[method=post]', (fs) => fs.map((f) => f.getAttribute('action')));
    for (const f of forms) if (f !== '/admin/signout') out.viewerForms.push(`${p}: ${f}`);
  }
  out.viewerForged = await page.evaluate(async () => {
    const csrf = document.querySelector('header form input[name=csrf]').value;
    const body = new URLSearchParams({ csrf, email: 'ny@example.se', reason: 'manual' });
    const r = await fetch('/admin/suppressions', { method: 'POST', body, redirect: 'manual' });
    return r.status;
  });
  step('viewer forged POST: ' + out.viewerForged);
});
