// editor.mjs writes a campaign in headless Chromium as an editor would:
// sign in, try two wrong files in the image library and upload two
// photos, write seed 003's editorial and an article with the block
// toolbar and the image picker (alt text required), watch autosave
// survive a reload, preview for a Swedish and an English reader in light
// and dark, meet a colleague's conflicting edit in a second session,
// then by keyboard only send a test and schedule the issue, and find it
// in the calendar; then, the server's clock moved to the morning of the
// send, watch it go out at the scheduled instant and open its report. Every screen is checked with axe-core (WCAG 2.1 A/AA)
// in light and dark, under the pages' own Content-Security-Policy.
// Prints one JSON object on stdout for TestEditorInChromium.
//
// Environment: BASE_URL, CHROMIUM, FILES (directory of files to upload),
// SEED (the texts as JSON), SCHEDULE_DATE (yyyy-mm-dd),
// SCHEDULE_MONTH (yyyy-mm), SCREENSHOTS (optional directory).
import path from 'node:path';
import { base, shots, need, output, openPage, checker as axeChecker, signIn, run } from './harness.mjs';

need('FILES', 'SEED', 'SCHEDULE_DATE');
const files = process.env.FILES;
const seed = JSON.parse(process.env.SEED);
const schedDate = process.env.SCHEDULE_DATE;
const out = output({ uploadErrors: [], keyboardFocus: [], sentSeen: [] });
const step = (s) => out.steps.push(s);

// session signs in in a context of its own, so two people can edit at once.
async function session(browser, email, password) {
  const { context, page } = await openPage(browser, out, { viewport: { width: 1440, height: 900 } });
  await signIn(page, email, password);
  return { context, page };
}

const checker = (page) => axeChecker(page, out);

// shot scrolls to the top and lets the preview settle before the picture.
async function shot(page, file, scheme = 'light', fullPage = true) {
  if (!shots) return;
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.emulateMedia({ colorScheme: scheme });
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(shots, file), fullPage });
  await page.emulateMedia({ colorScheme: 'light' });
}

// tabTo presses Tab until the element with id has focus, recording the
// path; it fails after max presses.
async function tabTo(page, id, max = 400) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const at = await page.evaluate(() => document.activeElement && (document.activeElement.id || document.activeElement.tagName));
    if (at === id) {
      out.keyboardFocus.push(id + ` (${i + 1} Tab)`);
      return;
    }
  }
  throw new Error(`Tab never reached #${id}`);
}

// previewFrame is the preview shown, once a refresh under way (a fresh
// frame that replaces the shown one when it has loaded) is done.
async function previewFrame(page) {
  await page.waitForFunction(() => document.querySelectorAll('.frame-wrap iframe').length === 1);
  const frame = await (await page.$('#preview-frame')).contentFrame();
  await frame.waitForLoadState('load');
  return frame;
}

async function previewText(page) {
  return (await previewFrame(page)).evaluate(() => document.body.innerText);
}

await run(out, async (browser) => {
  const { context, page } = await session(browser, 'redaktor@example.se', 'ett långt lösenord');
  const check = checker(page);
  step('signed in: ' + (await page.textContent('h1')));

  // 1. The image library: two refused files, then two photos.
  await page.goto(base + '/admin/media');
  for (const bad of ['protokoll.png', 'jattestor.jpg']) {
    await page.setInputFiles('#file', path.join(files, bad));
    await Promise.all([page.waitForNavigation(), page.click('form[enctype] button[type=submit]')]);
    out.uploadErrors.push(await page.textContent('#file-error'));
  }
  await check('media-errors');
  for (const good of ['kontoret.png', 'hemtjanst.png']) {
    await page.setInputFiles('#file', path.join(files, good));
    await Promise.all([page.waitForNavigation(), page.click('form[enctype] button[type=submit]')]);
  }
  step('library: ' + (await page.$$eval('.media-grid li', (l) => l.length)) + ' images');
  await check('media');
  await shot(page, 'media-library.png');

  // 2. A new campaign: first saved empty (errors), then written.
  await page.goto(base + '/admin/campaigns');
  await check('campaigns');
  await Promise.all([page.waitForNavigation(), page.click('a[href="/admin/campaigns/new"]')]);
  await check('editor-new');
  await Promise.all([page.waitForNavigation(), page.click('button[name=action][value=save]')]);
  await check('editor-new-errors');
  await page.fill('#name', 'Senaste nytt – ' + seed.Headline.slice(0, 40));
  await page.fill('#subject', seed.Headline);
  await page.fill('#preheader', seed.Kicker);
  for (const cb of await page.$$('input[name=list_ids]')) await cb.check();
  await page.fill('#body', '');
  await page.click('.toolbar button:has-text("Ledare")');
  const skeleton = await page.inputValue('#body');
  if (!skeleton.startsWith(':::editorial')) throw new Error('the toolbar did not insert an editorial: ' + skeleton.slice(0, 80));
  const body = [
    `:::editorial{kicker="${seed.Kicker}" signature="${seed.Signature}"}`,
    `## ${seed.Headline}`, '',
    'Hej {{ first_name | default "alla" }}!', '',
    seed.Paras[0], '', 'BILD1', '', seed.Paras[1], ':::', '',
    `:::article{kicker="${seed.ArticleKicker}"}`,
    `## ${seed.ArticleHead}`, '', seed.ArticlePara, '', 'BILD2', ':::', '',
  ].join('\n');
  await page.fill('#body', body);
  async function placeImage(marker, option, alt, caption) {
    await page.evaluate((m) => {
      const b = document.getElementById('body');
      const i = b.value.indexOf(m);
      b.setSelectionRange(i, i + m.length + 1);
    }, marker);
    await page.selectOption('#pick-image', { index: option });
    await page.fill('#pick-alt', alt);
    await page.fill('#pick-caption', caption);
    await page.click('#insert-image');
  }
  await page.selectOption('#pick-image', { index: 0 });
  await page.fill('#pick-alt', '');
  await page.click('#insert-image');
  out.altRefused = await page.isVisible('#pick-alt-error') && !(await page.inputValue('#body')).includes('](http');
  await placeImage('BILD1', 1, 'Förbundets kontor en vinterdag', 'Foto: Förbundet');
  await placeImage('BILD2', 0, 'Personal från hemtjänsten på väg till ett hembesök', '');
  await Promise.all([page.waitForNavigation(), page.click('button[name=action][value=save]')]);
  const m = page.url().match(/campaigns\/(\d+)\/edit/);
  if (!m) throw new Error('not on the editor after the first save: ' + page.url() + ' ' + (await page.textContent('main')).slice(0, 400));
  out.campaignId = Number(m[1]);
  step('draft saved: ' + page.url().replace(base, ''));
  await check('editor');

  // 3. Autosave, then a reload.
  await page.focus('#body');
  await page.keyboard.press('Control+End');
  await page.keyboard.type('\nEn autosparad rad.\n');
  await page.waitForFunction(() => /Sparat \d\d:\d\d/.test(document.getElementById('autosave-status').textContent));
  step('autosave: ' + (await page.textContent('#autosave-status')));
  await page.reload();
  out.afterReload = (await page.inputValue('#body')).slice(-200);

  // 3b. The preview follows typing: after a short pause it shows the
  // text as typed, the text part too, before any save.
  await page.focus('#body');
  await page.keyboard.press('Control+End');
  await page.keyboard.type('\nEn rad som ännu inte är sparad.\n');
  await page.waitForFunction(() => document.getElementById('text-preview').textContent.includes('ännu inte är sparad'), null, { timeout: 10000 });
  out.previewFollows = (await previewText(page)).includes('ännu inte är sparad');
  await page.waitForFunction(() => /Sparat \d\d:\d\d/.test(document.getElementById('autosave-status').textContent));

  // 4. The preview: Swedish and English reader, light and dark.
  out.previewSV = await previewText(page);
  out.previewImages = await (await previewFrame(page)).$$eval('img[src*="/media/"]', (l) => l.length);
  const bg = async () => (await previewFrame(page)).evaluate(() => {
    const el = document.querySelector('.u-bg') || document.body;
    return getComputedStyle(el).backgroundColor;
  });
  out.previewLightBg = await bg();
  await shot(page, 'editor.png', 'light', false);
  await Promise.all([page.waitForEvent('framenavigated'), page.check('#pv-lang-en')]);
  out.previewEN = await previewText(page);
  await Promise.all([page.waitForEvent('framenavigated'), page.check('#pv-dark')]);
  await previewText(page);
  out.previewDarkBg = await bg();
  await shot(page, 'editor-dark.png', 'dark', false);
  await page.check('#pv-phone');
  await shot(page, 'editor-phone-preview.png', 'light', false);
  await page.check('#pv-desktop');
  await Promise.all([page.waitForEvent('framenavigated'), page.check('#pv-light')]);
  await Promise.all([page.waitForEvent('framenavigated'), page.check('#pv-lang-sv')]);

  // 5. A colleague opens the same draft; both write.
  const other = await session(browser, 'kollega@example.se', 'ett annat långt lösenord');
  await other.page.goto(base + `/admin/campaigns/${out.campaignId}/edit`);
  await page.focus('#body');
  await page.keyboard.press('Control+End');
  await page.keyboard.type('Redaktörens rad.\n');
  await page.waitForFunction(() => /Sparat \d\d:\d\d/.test(document.getElementById('autosave-status').textContent) &&
    document.getElementById('body').value.includes('Redaktörens rad.'));
  await page.waitForTimeout(1200);
  await other.page.focus('#body');
  await other.page.keyboard.press('Control+End');
  await other.page.keyboard.type('Kollegans rad.\n');
  await other.page.waitForSelector('#conflict');
  out.conflictShown = await other.page.textContent('#conflict p');
  out.conflictMine = (await other.page.inputValue('#body')).toLowerCase();
  await checker(other.page)('editor-conflict');
  await shot(other.page, 'editor-conflict.png', 'light', false);
  await other.context.close();

  // 6. Keyboard only: from the text to the test send, then to the
  // schedule and its confirmation.
  await page.reload();
  await page.focus('#body');
  await tabTo(page, 'send-test');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  step('test: ' + (await page.textContent('.flash')));
  await page.focus('#body');
  await tabTo(page, 'date');
  const [y, mo, d] = schedDate.split('-');
  // Headless Chromium orders the date field's segments month, day,
  // year whatever the locale (a person's browser follows theirs); the
  // segments advance by themselves as digits are typed.
  await page.keyboard.type(mo + d + y);
  if ((await page.inputValue('#date')) !== schedDate) {
    // The date field's segments follow the locale; say what it took.
    throw new Error('typed date became ' + (await page.inputValue('#date')));
  }
  await tabTo(page, 'time', 3);
  await page.keyboard.type('0800');
  await tabTo(page, 'schedule-button', 5);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  out.confirmation = (await page.textContent('main')).replace(/\s+/g, ' ');
  await check('send');
  await shot(page, 'send-confirm.png');
  await tabTo(page, 'confirm-send', 80);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  step('scheduled: ' + (await page.textContent('.flash')));

  // 7. The calendar of that month.
  await page.goto(base + '/admin/campaigns/calendar?month=' + process.env.SCHEDULE_MONTH);
  out.calendarHasIt = (await page.textContent('table.calendar')).includes(seed.Headline.slice(0, 40).trim());
  await check('calendar');
  await shot(page, 'calendar.png');
  await shot(page, 'calendar-dark.png', 'dark');
  await context.close();

  // 8. The morning of the send: the server's clock (injected by the
  // test) is moved to a few seconds before the scheduled instant. She
  // signs in again (days have passed), opens the campaign, sees it
  // still scheduled, watches it go out and its progress move, and opens
  // the report.
  const hook = await fetch(base + '/__test/clock');
  if (!hook.ok) throw new Error('clock hook: ' + hook.status);
  step('clock: ' + (await hook.text()));
  const morning = await session(browser, 'redaktor@example.se', 'ett långt lösenord');
  const mp = morning.page;
  await mp.goto(base + `/admin/campaigns/${out.campaignId}`);
  out.statusBefore = (await mp.textContent('.badge')).trim();
  out.campaignPage = (await mp.textContent('main')).replace(/\s+/g, ' ');
  let loads = 0;
  mp.on('load', () => { loads += 1; });
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    try {
      const status = (await mp.textContent('.badge')).trim();
      const el = await mp.$('[data-field="sent"]');
      if (el) out.sentSeen.push(Number((await el.textContent()).replace(/[^0-9]/g, '')));
      if (status === 'Skickad') break;
    } catch { /* the page reloads itself when the status changes */ }
    await mp.waitForTimeout(150);
  }
  await mp.waitForLoadState('load');
  out.reloads = loads;
  step('progress seen: ' + out.sentSeen.join(' → '));
  out.statusAfter = (await mp.textContent('.badge')).trim();
  await checker(mp)('campaign-sent');
  await shot(mp, 'editor-campaign-sent.png');
  await Promise.all([mp.waitForNavigation(), mp.click(`a[href="/admin/campaigns/${out.campaignId}/report"]`)]);
  await mp.waitForSelector('#figures');
  out.figures = {};
  for (const dd of await mp.$$('#figures dd[data-figure]')) {
    out.figures[await dd.getAttribute('data-figure')] = Number((await dd.textContent()).replace(/[^0-9]/g, ''));
  }
  out.charts = await mp.locator('svg.chart').count();
  out.chartTables = await mp.locator('figure.chart-fig table').count();
  await checker(mp)('report');
  await shot(mp, 'editor-report.png');
  await morning.context.close();
});
