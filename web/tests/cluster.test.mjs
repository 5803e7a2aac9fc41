// Three nodes of one cluster in Debian's Chromium (issue 16). Started by
// crates/vigil/tests/e2e/cluster.rs, which provides VIGIL_URL_A, VIGIL_URL_B, VIGIL_URL_C (the
// nodes' consoles), VIGIL_ADMIN_PASSWORD, VIGIL_OPERATOR_SSH (ssh through node A),
// VIGIL_TARGET_HOME (where the target account's files land) and VIGIL_SCREENSHOTS.
//
// A session through node A is watched live from B (the screen at once, then what the operator
// types), locked from C (the operator's input never reaches the target), terminated from B,
// and after it ends its video plays and verifies from C.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { chromiumOptions, signIn, spawnOperator, terminalText, until } from './walk.mjs';

const [A, B, C] = ['A', 'B', 'C'].map((n) => process.env[`VIGIL_URL_${n}`]);
const PASSWORD = process.env.VIGIL_ADMIN_PASSWORD;
const SHOTS = process.env.VIGIL_SCREENSHOTS ?? '/tmp/vigil-console-screenshots';
mkdirSync(SHOTS, { recursive: true });

let browser;
before(async () => { browser = await chromium.launch(chromiumOptions); });
after(async () => { await browser?.close(); });

async function signedIn(url) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  await signIn(page, url, 'admin', PASSWORD);
  return page;
}

const shot = (page, name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

test('a session through node A: watched from B, locked from C, ended from B, verified on C', async () => {
  assert.ok(A && B && C && A !== B && B !== C, 'three consoles');
  const tag = Date.now().toString(36);
  const lockedProof = `${process.env.VIGIL_TARGET_HOME}/vigil-cluster-lock-proof-${tag}`;
  const op = spawnOperator(JSON.parse(process.env.VIGIL_OPERATOR_SSH));
  await until('the operator gets a shell through node A', () => op.out.includes('$') || op.out.includes('#'), 20000);
  op.child.stdin.write('echo before-watch-$((20+1))\r');
  await until('the shell answers', () => op.out.includes('before-watch-21'), 5000);

  // B lists the session (the store is shared) and relays its live stream from A.
  const b = await signedIn(B);
  await b.goto(`${B}/#/sessions`);
  await b.getByTestId('filter-status').selectOption('active');
  await b.getByTestId('apply-filters').click();
  const row = b.locator('tr[data-status="active"][data-user="alice"]');
  await row.first().waitFor({ timeout: 10000 });
  const id = (await row.first().getAttribute('data-testid')).replace('session-', '');
  await b.goto(`${B}/#/sessions/${id}/live`);
  await until('B shows the live stream', async () => (await b.getByTestId('live-status').getAttribute('data-state')) === 'live');
  await until('B shows the current screen at once', async () => (await terminalText(b, 'live-terminal')).includes('before-watch-21'), 3000);
  const typed = Date.now();
  op.child.stdin.write('echo typed-relayed-$((40+2))\r');
  await until('what the operator types on A appears on B', async () => (await terminalText(b, 'live-terminal')).includes('typed-relayed-42'), 2000);
  console.log(`cluster: operator keystrokes on node B's screen after ${Date.now() - typed} ms`);
  await shot(b, '36-live-relayed-from-another-node');

  // C locks the operator: told at once, and what they type never reaches the target.
  const c = await signedIn(C);
  await c.goto(`${C}/#/sessions/${id}/live`);
  await until('C shows the live stream too', async () => (await terminalText(c, 'live-terminal')).includes('typed-relayed-42'), 3000);
  await c.getByTestId('live-lock').click();
  await until('C shows the lock', async () => (await c.getByTestId('lock-state').getAttribute('data-locked')) === 'true');
  await until('the operator is told who locked it', () => op.out.includes('session was locked by admin'), 5000);
  op.child.stdin.write(`echo locked-input > ${lockedProof}\r`);
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(!existsSync(lockedProof), 'nothing typed while locked reached the target');
  assert.ok(!(await terminalText(b, 'live-terminal')).includes('locked-input'), 'no echo on B either');
  await shot(c, '37-locked-from-a-third-node');

  // B ends it.
  await b.getByTestId('live-terminate').click();
  await b.getByTestId('confirm-yes').click();
  await b.getByTestId('terminate-success').waitFor();
  await until('the operator is told', () => op.out.includes('You have been disconnected'), 10000);
  await until('the operator\'s ssh ends', () => op.exited !== null, 10000);
  assert.ok(!existsSync(lockedProof), 'what was dropped is never delivered later');

  // C plays and verifies the recording A made, from the bucket.
  await c.goto(`${C}/#/sessions/${id}/video`);
  await c.getByTestId('video-play').waitFor();
  await until('C says the recording is intact', async () => (await c.getByTestId('verification').getAttribute('data-verdict')) === 'intact', 20000);
  await c.getByTestId('video-speed').selectOption('8');
  await c.getByTestId('video-play').click();
  await until('C plays the session', async () => (await terminalText(c, 'video-terminal')).includes('typed-relayed-42'), 20000);
  await shot(c, '38-video-on-a-third-node');
  await c.goto(`${C}/#/sessions`);
  await c.getByTestId('filter-status').selectOption('finished');
  await c.getByTestId('apply-filters').click();
  await c.getByTestId(`session-${id}`).getByTestId('actions').click();
  await c.getByTestId('action-logs').click();
  const log = c.getByTestId('session-log');
  await log.waitFor();
  const text = await log.innerText();
  for (const needle of ['live view started', 'locked', 'terminated_by(admin)']) {
    assert.ok(text.includes(needle), `the session log shows "${needle}":\n${text}`);
  }
  await b.context().close();
  await c.context().close();
});
