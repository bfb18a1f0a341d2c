// permissions.mjs walks the screens of issue 14 in headless Chromium as an
// admin: the audit log (filtered, a bad date next to its field), a
// member's list roles, a campaign waiting for approval, and the two-factor
// enrolment. Every page is checked with axe-core (WCAG 2.1 A/AA and best
// practice) in light and dark under the pages' own CSP. Prints one JSON
// object on stdout for TestPermissionsInChromium.
//
// Environment: BASE_URL, CHROMIUM, SCREENSHOTS (optional directory),
// MEMBER_ID, CAMPAIGN_ID.
import { base, need, output, openPage, checker, shooter, signIn, run } from './harness.mjs';

need('MEMBER_ID', 'CAMPAIGN_ID');
const out = output();
const step = (s) => out.steps.push(s);

await run(out, async (browser) => {
  const { page } = await openPage(browser, out);
  const check = checker(page, out);
  const shot = shooter(page);

  await signIn(page, 'chef@example.se');

  await page.goto(`${base}/admin/settings`);
  await Promise.all([page.waitForNavigation(), page.click('a[href="/admin/audit"]')]);
  step('audit rows: ' + (await page.locator('[data-audit-id]').count()));
  await check('audit');
  await shot('audit.png');

  await page.fill('#audit-action', 'auth.');
  await page.fill('#audit-since', '2001-02-03');
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
  step('audit filtered: ' + (await page.locator('[data-audit-id]').count()));
  await check('audit-filtered');
  await page.goto(`${base}/admin/audit?since=igar`);
  out.auditErrorShown = await page.locator('#since-error').count() === 1;
  await check('audit-errors');

  await page.goto(`${base}/admin/settings/users/${process.env.MEMBER_ID}/grants`);
  await check('grants');
  await shot('grants.png');

  await page.goto(`${base}/admin/campaigns/${process.env.CAMPAIGN_ID}`);
  out.approvalButtons = await page.locator('form[action$="/approve"] button').count();
  out.approvalRecipients = (await page.textContent('[data-field="approval-recipients"]')).trim();
  await check('campaign-approval');
  await shot('campaign-approval.png');

  await page.goto(`${base}/admin/account/twofactor`);
  out.qrLoaded = await page.evaluate(() => {
    const i = document.querySelector('img[data-qr]');
    return !!i && i.complete && i.naturalWidth > 0;
  });
  await check('twofactor');
  await shot('twofactor.png');
});
