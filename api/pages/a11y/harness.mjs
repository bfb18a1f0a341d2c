// harness.mjs holds what every walk of utskick's pages shares: starting
// Debian's Chromium with the flags this closed network needs, a page that
// reports CSP refusals and script errors, the axe-core check in light and
// dark, screenshots for the documentation, and the JSON object a walk
// prints for its Go test (see api/browser_helpers_test.go).
//
// Pages keep their real Content-Security-Policy: axe is evaluated through
// the debugging protocol, which the policy does not govern, so anything
// the policy refuses in the pages themselves (an inline style, say) is
// reported rather than hidden by a bypass.
//
// Environment: BASE_URL, CHROMIUM (default /usr/bin/chromium), SCREENSHOTS
// (optional directory for the documentation's screenshots).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const base = process.env.BASE_URL;
export const shots = process.env.SCREENSHOTS || '';

// The staff password every walk's accounts are given by the Go test.
export const password = 'ett långt lösenord';

// need stops the walk when an environment variable it depends on is unset.
export function need(...names) {
  const missing = ['BASE_URL', ...names].filter((n) => !process.env[n]);
  if (missing.length) {
    console.error(`${missing.join(', ')} must be set`);
    process.exit(2);
  }
}

// output is the object a walk fills and prints; extra holds the walk's
// own findings.
export function output(extra = {}) {
  return { pages: [], violations: [], csp: [], steps: [], errors: [], ...extra };
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// openPage opens a page in a new context (Swedish locale unless options
// say otherwise) whose CSP refusals and uncaught errors land in out.
export async function openPage(browser, out, { timeout = 15000, ...options } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'sv-SE', ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) out.csp.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => out.errors.push(`${page.url()}: ${e}`));
  return { context, page };
}

// checker returns check(name): axe-core (WCAG 2.1 A/AA and best practice)
// on the page as it is, in light and in dark. With screenshots set,
// everyShot also saves name-scheme.png of each.
export function checker(page, out, { everyShot = false } = {}) {
  return async function check(name) {
    const lang = await page.getAttribute('html', 'lang');
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(axeSource);
      const r = await page.evaluate(() => window.axe.run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      }));
      out.pages.push({ name, scheme, lang, url: page.url().replace(base, ''), passes: r.passes.length,
        violations: r.violations.length, incomplete: r.incomplete.length });
      for (const v of r.violations) {
        out.violations.push({ page: name, scheme, id: v.id, impact: v.impact, help: v.help,
          nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary) });
      }
      if (everyShot && shots) {
        await page.screenshot({ path: path.join(shots, `${name}-${scheme}.png`), fullPage: true });
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
  };
}

// shooter returns shot(file, scheme, fullPage), a no-op without SCREENSHOTS.
export function shooter(page) {
  return async function shot(file, scheme = 'light', fullPage = true) {
    if (!shots) return;
    await page.emulateMedia({ colorScheme: scheme });
    await page.screenshot({ path: path.join(shots, file), fullPage });
    await page.emulateMedia({ colorScheme: 'light' });
  };
}

// clickAndWait clicks what selector names and waits for the page it loads.
export async function clickAndWait(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

// submitForm sends the form through its submit button, as a person would.
export async function submitForm(page, formSelector) {
  await clickAndWait(page, `${formSelector} button[type=submit]`);
}

// signIn signs in on the staff sign-in page.
export async function signIn(page, email, pw = password) {
  await page.goto(`${base}/admin/signin`);
  await page.fill('#email', email);
  await page.fill('#password', pw);
  await Promise.all([page.waitForNavigation(), page.press('#password', 'Enter')]);
}

// run launches Chromium, runs the walk and prints out as one JSON line,
// with any exception among out.errors so the Go test reports it.
export async function run(out, walk) {
  const browser = await launch();
  try {
    await walk(browser);
  } catch (e) {
    out.errors.push(String(e && e.stack || e));
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
