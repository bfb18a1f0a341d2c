// reports.mjs follows a campaign in headless Chromium as an editor would:
// sign in, open the draft's campaign page, start the send (through the
// test server's hook: the send button is another screen's), watch the
// progress move in place, see the page turn to "sent", open the report
// (figures, charts, delivery log, address search), the cancel/retry
// confirmation of a copy, the list report and the printable monthly
// report. Every page is checked with axe-core (WCAG 2.1 A/AA) in light and
// dark under its real CSP. Prints one JSON object for TestReportsInChromium.
//
// Environment: BASE_URL, CHROMIUM, EMAIL, PASSWORD, CAMPAIGN, LIST, MONTH,
// SCREENSHOTS (optional directory for the documentation's screenshots).
import path from 'node:path';
import { base, shots, need, output, openPage, checker, shooter, run } from './harness.mjs';

need('CAMPAIGN', 'LIST', 'EMAIL', 'PASSWORD');
const campaign = process.env.CAMPAIGN;
const list = process.env.LIST;
const out = output({ sentSeen: [], reloads: 0 });
const step = (s) => out.steps.push(s);

await run(out, async (browser) => {
  const { page } = await openPage(browser, out, { timeout: 20000, viewport: { width: 1280, height: 900 } });
  const check = checker(page, out);
  const shot = shooter(page);
  const num = (s) => Number(String(s).replace(/[^0-9]/g, ''));

  // 1. Sign in; the draft's page has no progress to follow yet.
  await page.goto(`${base}/admin/signin`);
  await page.fill('#email', process.env.EMAIL);
  await page.fill('#password', process.env.PASSWORD);
  await Promise.all([page.waitForNavigation(), page.press('#password', 'Enter')]);
  await page.goto(`${base}/admin/campaigns/${campaign}`);
  await check('campaign-draft');
  step('draft: ' + (await page.textContent('h1')));

  // 2. Start the send, open the page, and watch without reloading.
  const r = await fetch(`${base}/__test/send`);
  if (!r.ok) throw new Error('send hook: ' + r.status);
  // Open the page once it is sending (the page reloads itself when the
  // status changes, which is not what is watched here).
  for (let i = 0; i < 100; i++) {
    await page.goto(`${base}/admin/campaigns/${campaign}`);
    if ((await page.textContent('.badge')).includes('Skickas')) break;
    await page.waitForTimeout(200);
  }
  let loads = 0;
  page.on('load', () => { loads += 1; });
  const deadline = Date.now() + 60000;
  let checkedSending = false;
  while (Date.now() < deadline) {
    const el = await page.$('[data-field="sent"]');
    if (!el) break;
    const status = await page.textContent('.badge');
    if (!status.includes('Skickas')) break;
    out.sentSeen.push(num(await el.textContent()));
    if (!checkedSending && out.sentSeen.at(-1) > 0) {
      checkedSending = true;
      await check('campaign-sending');
      await shot('reports-campaign-sending.png');
    }
    if (out.sentSeen.at(-1) >= 40) break;
    await page.waitForTimeout(500);
  }
  out.reloads = loads;
  step('progress seen: ' + out.sentSeen.join(' → '));
  // The page turns to "sent" by itself (it reloads once the status changes).
  await page.waitForFunction(() => document.querySelector('.badge')?.textContent.includes('Skickad'), null, { timeout: 30000 });
  await page.waitForLoadState('load');
  out.finalStatus = (await page.textContent('.badge')).trim();
  await check('campaign-sent');
  await shot('reports-campaign.png');
  await shot('reports-campaign-dark.png', 'dark');

  // 3. Readers open and click; the report.
  await fetch(`${base}/__test/engage`);
  await page.click(`a[href="/admin/campaigns/${campaign}/report"]`);
  await page.waitForSelector('#figures');
  out.charts = await page.locator('svg.chart').count();
  out.chartTables = await page.locator('figure.chart-fig table').count();
  await check('report');
  await shot('reports-report.png');
  await shot('reports-report-dark.png', 'dark');
  await page.fill('#f-q', 'mottagare07');
  await Promise.all([page.waitForNavigation(), page.press('#f-q', 'Enter')]);
  out.logRows = await page.locator('#log tbody tr').count();
  await check('report-filtered');

  // 4. Copy to a new draft: its page; then the cancel confirmation of a
  //    scheduled campaign is reached from a link (no script needed).
  await page.goto(`${base}/admin/campaigns/${campaign}`);
  await Promise.all([page.waitForNavigation(), page.click(`form[action="/admin/campaigns/${campaign}/duplicate"] button`)]);
  step('duplicate: ' + (await page.textContent('.flash')));
  await page.goto(`${base}/admin/campaigns/${campaign}/confirm/retry-failed`);
  await check('confirm');

  // 5. The list report and the monthly report, on screen and in print.
  await page.goto(`${base}/admin/lists/${list}/report`);
  await check('list-report');
  await shot('reports-list.png');
  await page.goto(`${base}/admin/reports/monthly?month=${process.env.MONTH}`);
  await check('monthly');
  await page.emulateMedia({ media: 'print' });
  out.printHides = await page.evaluate(() => {
    const hidden = (sel) => [...document.querySelectorAll(sel)].every((e) => getComputedStyle(e).display === 'none');
    return hidden('header.top') && hidden('.no-print') && document.querySelector('#month-campaigns') !== null;
  });
  if (shots) await page.screenshot({ path: path.join(shots, 'reports-monthly-print.png'), fullPage: true });
  await page.emulateMedia({ media: 'screen' });
});
