// team.mjs walks, in headless Chromium, what the last part of issue 14
// added: the approval box of a waiting campaign (two forms, the comment
// box full width, the time asked for), an admin requiring two-factor
// sign-in on Settings, being held at the enrolment page until a code
// from the app is confirmed (the code is computed here, RFC 6238), and
// the account page with two-factor on. Every page is checked with
// axe-core in light and dark under the pages' own CSP. Prints one JSON
// object on stdout for TestTeamInChromium.
//
// Environment: BASE_URL, CHROMIUM, SCREENSHOTS (optional directory),
// CAMPAIGN_ID.
import crypto from 'node:crypto';
import { base, need, output, openPage, checker, shooter, signIn, submitForm, run } from './harness.mjs';

need('CAMPAIGN_ID');
const out = output();
const step = (s) => out.steps.push(s);

// totp is the 6-digit code of a base32 secret now (SHA-1, 30 s).
function totp(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const h = crypto.createHmac('sha1', key).update(msg).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

await run(out, async (browser) => {
  const { page } = await openPage(browser, out);
  const check = checker(page, out);
  const shot = shooter(page);

  await signIn(page, 'chef@example.se');

  // The approval box: the comment box as wide as its form.
  await page.goto(`${base}/admin/campaigns/${process.env.CAMPAIGN_ID}`);
  out.sendAtText = (await page.textContent('[data-field="send-at"]')).trim();
  out.commentWidthRatio = await page.evaluate(() => {
    const t = document.querySelector('#reject-comment');
    const f = t && t.closest('form');
    return t && f ? t.getBoundingClientRect().width / (f.clientWidth - 32) : 0;
  });
  await check('campaign-approval-box');
  await shot('campaign-approval-box.png');

  // Settings: require two-factor sign-in.
  await page.goto(`${base}/admin/settings`);
  await check('settings-security');
  await page.check('#require_two_factor');
  await submitForm(page, 'form[action="/admin/settings/security"]');
  step('saved: ' + page.url().replace(base, ''));

  // The admin has no second factor: every page leads to enrolment.
  await page.goto(`${base}/admin/lists`);
  out.heldAt = page.url().replace(base, '');
  out.requiredShown = await page.locator('[data-field="twofactor-required"]').count() === 1;
  await check('twofactor-required');
  await shot('twofactor-required.png');
  const secret = (await page.textContent('code[data-secret]')).trim();
  await page.fill('#code', totp(secret));
  await submitForm(page, 'main form[action="/admin/account/twofactor"]');
  out.recoveryCodes = await page.locator('[data-recovery-code]').count();
  await page.goto(`${base}/admin/lists`);
  out.freeAt = page.url().replace(base, '');

  await page.goto(`${base}/admin/account`);
  await check('account-twofactor-on');
  await shot('account-twofactor.png');
});
