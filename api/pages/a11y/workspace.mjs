// workspace.mjs drives the staff workspace in headless Chromium as a new
// admin would: open the first-run link, create the account, sign in, look
// at the overview, the account page and Settings → Users, invite a
// colleague, sign out, and try a wrong password. Scripts and styles run
// under the pages' own Content-Security-Policy (no bypass): a violation is
// reported. Every page is checked with axe-core (WCAG 2.1 A/AA) in light
// and dark. Prints one JSON object on stdout for TestWorkspaceInChromium.
//
// Environment: BASE_URL, SETUP_LINK (the first-run link), CHROMIUM,
// SCREENSHOTS (optional directory for the documentation's screenshots).
import { base, password, need, output, openPage, checker, shooter, submitForm, run } from './harness.mjs';

need('SETUP_LINK');
const setupLink = process.env.SETUP_LINK;
const out = output({ focus: {} });
const step = (s) => out.steps.push(s);
const email = 'chef@example.se';

await run(out, async (browser) => {
  const { page } = await openPage(browser, out);
  const check = checker(page, out);
  const shot = shooter(page);
  const submit = (formSelector) => submitForm(page, formSelector);

  // 1. The first-run link: create the first admin.
  await page.goto(setupLink);
  await check('setup');
  await page.fill('#email', email);
  await page.fill('#name', 'Karin Chef');
  await page.fill('#password', 'kort');
  await page.fill('#confirm', 'kort');
  await submit('form.card');
  out.setupErrorTied = await page.evaluate(() => {
    const e = document.getElementById('password');
    return e.getAttribute('aria-invalid') === 'true' && e.getAttribute('aria-describedby').split(' ').includes('password-error');
  });
  await check('setup-errors');
  await page.fill('#password', password);
  await page.fill('#confirm', password);
  await submit('form.card');
  step('account created: ' + (await page.textContent('.flash')));

  // 2. Sign in, by keyboard: the first Tab reaches the skip link.
  await check('signin');
  await shot('workspace-signin.png');
  await page.keyboard.press('Tab');
  out.focus = await page.evaluate(() => {
    const el = document.activeElement;
    const cs = getComputedStyle(el);
    return { cls: el.className, outline: cs.outlineStyle, width: cs.outlineWidth, top: el.getBoundingClientRect().top };
  });
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.press('#password', 'Enter')]);
  step('signed in: ' + (await page.textContent('h1')));

  // 3. The overview, the account page, settings.
  await check('overview');
  await shot('workspace-overview.png');
  await shot('workspace-overview-dark.png', 'dark');
  await page.click('header .me a');
  await page.waitForSelector('#h-sessions');
  await check('account');
  await page.click('nav a[href="/admin/settings"]');
  await check('settings');
  await page.click('a[href="/admin/settings/users"]');
  await check('users');

  // 4. Invite a colleague as a member (their lists are given on the grants page).
  await page.fill('#email', 'ny.kollega@example.se');
  await page.fill('#name', 'Ny Kollega');
  await page.check('#invite-role-member');
  await submit('section[aria-labelledby="h-invite"] form');
  step('invited: ' + (await page.textContent('.flash')));
  await check('users-invited');
  await shot('workspace-users.png');
  await page.click('nav a[href="/admin/lists"]');
  await check('lists');

  // 5. Deactivation asks first, on a page that names the person (no
  // script needed); cancelling changes nothing.
  await page.goto(`${base}/admin/settings/users`);
  await page.click('a[href$="/deactivate"]');
  await page.waitForSelector('#h-confirm');
  out.confirmText = await page.textContent('section[aria-labelledby="h-confirm"] p');
  await Promise.all([page.waitForNavigation(), page.click('section[aria-labelledby="h-confirm"] .actions a')]);
  out.afterDismiss = page.url().replace(base, '');

  // 6. Sign out; the old session is gone.
  await submit('header form');
  step('signed out: ' + (await page.textContent('.flash')));
  await check('signed-out');
  await page.goto(`${base}/admin/account`);
  out.afterSignOut = page.url().replace(base, '');

  // 7. Forgot password, with a mistake first; a wrong password.
  await page.goto(`${base}/admin/forgot`);
  await check('forgot');
  await page.fill('#email', 'inte-en-adress');
  await submit('form.card');
  await check('forgot-errors');
  await page.fill('#email', email);
  await submit('form.card');
  await check('forgot-sent');
  await page.goto(`${base}/admin/signin?lang=en`);
  await page.fill('#email', email);
  await page.fill('#password', 'fel lösenord');
  await submit('form.card');
  await check('signin-wrong-en');
});
