// The console in Debian's Chromium (Playwright, headless) against a real `vigil serve` with
// real OpenSSH sessions. Started by crates/vigil/tests/e2e/console.rs, which provides:
//   VIGIL_URL, VIGIL_ADMIN_PASSWORD, VIGIL_OPERATOR_SSH (how to run the operator's ssh),
//   VIGIL_BIN, VIGIL_DATA_DIR (for the CLI), VIGIL_SCREENSHOTS (where screenshots go).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { chromiumOptions, signIn, spawnOperator, terminalText, until } from './walk.mjs';

const URL = process.env.VIGIL_URL;
const SHOTS = process.env.VIGIL_SCREENSHOTS ?? '/tmp/vigil-console-screenshots';
const operatorSsh = JSON.parse(process.env.VIGIL_OPERATOR_SSH ?? '{}');
mkdirSync(SHOTS, { recursive: true });

let browser;
const state = {};

before(async () => {
  browser = await chromium.launch(chromiumOptions);
});
after(async () => { await browser?.close(); });

/** Every API answer and live-stream frame the walk receives, for the canary check at the end. */
const answers = [];

async function newPage() {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  page.on('response', (r) => {
    if (r.url().includes('/api/')) answers.push(r.body().then((b) => [r.url(), b], () => null));
  });
  page.on('websocket', (ws) => ws.on('framereceived', (f) => answers.push(Promise.resolve([ws.url(), Buffer.from(f.payload)]))));
  return page;
}

const shot = (page, name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

function vigil(...args) {
  return execFileSync(process.env.VIGIL_BIN, ['--data-dir', process.env.VIGIL_DATA_DIR, ...args], { encoding: 'buffer' });
}

/** The operator's ssh with a remote terminal; `out` collects what the operator sees. */
const operator = (...command) => spawnOperator(operatorSsh, command);

const login = (page, user, password) => signIn(page, URL, user, password);

async function findSession(page, filters) {
  await page.goto(`${URL}/#/sessions`);
  for (const [k, v] of Object.entries(filters)) {
    const el = page.getByTestId(`filter-${k}`);
    if (k === 'status' || k === 'protocol') await el.selectOption(v); else await el.fill(v);
  }
  await page.getByTestId('apply-filters').click();
}

async function action(page, id, name) {
  await page.getByTestId(`session-${id}`).getByTestId('actions').click();
  await page.getByTestId(`action-${name}`).click();
}

test('sign in, find the session by filters, watch it live, terminate it', async () => {
  const page = await newPage();
  await page.goto(URL);
  await page.getByTestId('username').waitFor();
  await shot(page, '01-login');
  await page.getByTestId('username').fill('admin');
  await page.getByTestId('password').fill('wrong password');
  await page.getByTestId('login').click();
  await until('the wrong password is refused', async () => (await page.getByTestId('login-error').innerText()).includes('wrong user name or password'));
  await page.getByTestId('password').fill(process.env.VIGIL_ADMIN_PASSWORD);
  await page.getByTestId('login').click();
  await page.getByTestId('sessions-table').waitFor();

  const op = operator();
  await until('the operator gets a shell', () => op.out.includes('$') || op.out.includes('#'), 20000);
  op.child.stdin.write('echo before-$((20+1))\r');
  await findSession(page, { user: 'alice', status: 'active', target: 'web01' });
  const row = page.locator('tr[data-status="active"][data-user="alice"]');
  await row.first().waitFor({ timeout: 10000 });
  assert.equal(await row.count(), 1, 'one active session of alice matches the filters');
  const id = (await row.first().getAttribute('data-testid')).replace('session-', '');
  state.first = id;
  await shot(page, '02-remote-sessions');
  await findSession(page, { user: 'nobody-such' });
  await until('a filter that matches nothing says so', async () => (await page.getByTestId('sessions-state').innerText()).includes('No session'));
  await findSession(page, { user: 'alice', status: 'active' });

  await action(page, id, 'live');
  await until('the live stream opens', async () => (await page.getByTestId('live-status').getAttribute('data-state')) === 'live');
  await until('the current screen is shown at once', async () => (await terminalText(page, 'live-terminal')).includes('before-21'));
  const typed = Date.now();
  op.child.stdin.write('echo typed-live-$((40+2))\r');
  await until('what the operator types appears live', async () => (await terminalText(page, 'live-terminal')).includes('typed-live-42'), 1000);
  console.log(`live: operator keystrokes on screen after ${Date.now() - typed} ms`);
  await shot(page, '03-live-stream');

  // A second viewer who joins late sees the current screen at once.
  const late = await newPage();
  await login(late, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await late.goto(`${URL}/#/sessions/${id}/live`);
  await until('a late viewer sees the current screen', async () => (await terminalText(late, 'live-terminal')).includes('typed-live-42'), 3000);
  await late.context().close();
  assert.ok(!op.out.includes('watch'), 'the operator is not told anyone watches');

  await page.getByTestId('live-terminate').click();
  await page.getByTestId('confirm').waitFor();
  await shot(page, '04-terminate-confirm');
  await page.getByTestId('confirm-yes').click();
  await page.getByTestId('terminate-success').waitFor();
  await shot(page, '05-terminate-success');
  await until('the operator is told', () => op.out.includes('You have been disconnected'), 10000);
  await until('the operator\'s ssh ends', () => op.exited !== null, 10000);
  await page.context().close();
});

test('session logs, video with seek and speed, and a download equal to the stored recording', async () => {
  const page = await newPage();
  await login(page, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  const id = state.first;
  await findSession(page, { user: 'alice', status: 'finished' });
  await page.getByTestId(`session-${id}`).waitFor();
  await action(page, id, 'logs');
  const log = page.getByTestId('session-log');
  await log.waitFor();
  const text = await log.innerText();
  for (const needle of ['authenticated', 'live view started', 'by admin', 'terminate requested', 'terminated_by(admin)']) {
    assert.ok(text.includes(needle), `the session log shows "${needle}":\n${text}`);
  }
  await until('the recording verified intact in the logs', async () => (await page.getByTestId('verification').getAttribute('data-verdict')) === 'intact');
  await until('the session log verified intact (chained and sealed)', async () => (await page.getByTestId('log-verification').getAttribute('data-verdict')) === 'intact');
  assert.ok((await page.getByTestId('log-verification-summary').innerText()).includes('sealed'));
  await shot(page, '06-session-logs');
  await page.getByRole('button', { name: 'Close' }).first().click();

  await action(page, id, 'video');
  await page.getByTestId('video-play').waitFor();
  await until('the video says its recording is intact', async () => (await page.getByTestId('verification').getAttribute('data-verdict')) === 'intact');
  assert.ok((await page.getByTestId('verification-summary').innerText()).includes('sealed'));
  await page.getByTestId('video-speed').selectOption('8');
  await page.getByTestId('video-play').click();
  await until('the video plays the session', async () => (await terminalText(page, 'video-terminal')).includes('typed-live-42'), 15000);
  await page.getByTestId('video-play').click(); // pause
  const max = Number(await page.getByTestId('video-seek').getAttribute('max'));
  await page.getByTestId('video-seek').fill('0');
  await until('seeking to the start clears the screen', async () => !(await terminalText(page, 'video-terminal')).includes('typed-live-42'));
  await page.getByTestId('video-seek').fill(String(max));
  await until('seeking to the end shows the end', async () => (await terminalText(page, 'video-terminal')).includes('typed-live-42'));
  await shot(page, '07-session-video');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('video-download').click()]);
  const downloaded = readFileSync(await download.path());
  const stored = vigil('recording', 'export', id);
  assert.ok(downloaded.length > 100 && downloaded.equals(stored), 'the download equals the stored recording');
  // Its proof, saved beside it, makes `vigil verify FILE` say it is what was downloaded.
  const [proofDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('video-proof').click()]);
  const proof = JSON.parse(readFileSync(await proofDownload.path(), 'utf8'));
  const { createHash } = await import('node:crypto');
  assert.equal(proof.sha256, createHash('sha256').update(downloaded).digest('hex'));
  assert.equal(proof.verdict, 'intact', JSON.stringify(proof));
  const saved = `${SHOTS}/downloaded-${id}.cast`;
  writeFileSync(saved, downloaded);
  writeFileSync(`${saved}.vigil-proof`, JSON.stringify(proof));
  assert.ok(vigil('verify', saved).toString().includes('as it was exported'));
  await page.context().close();
});

test('prevent purge with a justification keeps the session from the purge job', async () => {
  const second = operator('echo', 'second-session');
  await until('the second session ends', () => second.exited !== null, 20000);
  const page = await newPage();
  await login(page, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await findSession(page, { user: 'alice', status: 'finished' });
  const rows = page.locator('tr[data-status="finished"][data-user="alice"]');
  await until('both sessions are listed', async () => (await rows.count()) === 2);
  const ids = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-testid').replace('session-', '')));
  const other = ids.find((x) => x !== state.first);
  state.second = other;
  await action(page, state.first, 'prevent-purge');
  await page.getByTestId('purge-submit').click();
  await until('the justification is required', async () => (await page.getByTestId('prevent-purge').innerText()).includes('justification is required'));
  await page.getByTestId('purge-reason').fill('Incident 2026-114: keep for the investigation');
  await shot(page, '08-prevent-purge');
  await page.getByTestId('purge-submit').click();
  await page.getByTestId('prevent-purge').waitFor({ state: 'detached' });
  // The purge job, with a retention of zero days: every ended session is expired.
  const out = vigil('purge', '--days', '0').toString();
  assert.ok(out.includes(`purged ${other}`) && !out.includes(`purged ${state.first}`), out);
  await page.reload();
  await page.getByTestId(`session-${state.first}`).waitFor();
  assert.ok((await page.getByTestId(`session-${state.first}`).innerText()).includes('Kept'));
  assert.ok((await page.getByTestId(`session-${other}`).innerText()).includes('Purged'));
  await shot(page, '09-after-purge');
  await page.goto(`${URL}/#/audit`);
  const audit = await page.getByTestId('audit-table').innerText();
  for (const needle of ['session prevent purge', 'Incident 2026-114', 'session purged', 'live view started', 'recording downloaded', 'recording played', 'session terminated']) {
    assert.ok(audit.includes(needle), `the administration log has "${needle}"`);
  }
  await shot(page, '10-administration-log');
  for (const [hash, testid, name] of [['#/users', 'users-table', '11-users'], ['#/targets', 'targets-table', '12-targets'], ['#/grants', 'grants-table', '13-grants']]) {
    await page.goto(`${URL}/${hash}`);
    await page.getByTestId(testid).waitFor();
    await shot(page, name);
  }
  // The Nodes page, reached from the menu: this node is up, with its live sessions.
  await page.getByTestId('nav-nodes').click();
  await page.getByTestId('nodes-table').waitFor();
  const up = page.locator('[data-testid="nodes-table"] tr[data-state="up"]');
  assert.equal(await up.count(), 1, 'one node, up');
  assert.ok((await up.innerText()).includes('(this node)'), await up.innerText());
  await shot(page, '35-nodes');
  // A failed sign-in by someone else shows on the Users page (console and SSH together); an
  // administrator clears it.
  const refused = await page.evaluate(async () => (await fetch('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'mallory-guess', password: 'guess-1' }) })).status);
  assert.equal(refused, 401);
  await page.goto(`${URL}/#/grants`);
  await page.goto(`${URL}/#/users`);
  const row = page.getByTestId('limit-user:mallory-guess');
  await row.waitFor();
  assert.ok((await row.innerText()).includes('user mallory-guess'));
  await shot(page, '34-failed-sign-ins');
  await row.getByRole('button', { name: 'Clear' }).click();
  await until('the failed sign-ins are cleared', async () => (await page.getByTestId('limit-user:mallory-guess').count()) === 0);
  await page.context().close();
});

test("a login's sudo answering is set from the targets page, its passwords never shown", async () => {
  const page = await newPage();
  await login(page, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await page.goto(`${URL}/#/targets`);
  const button = page.locator('[data-testid^="elevation-web01-"]').first();
  await button.click();
  await page.getByTestId('elevation-form').waitFor();
  await page.getByTestId('field-sudo_inject').selectOption('on-demand');
  await page.getByTestId('field-su_password').fill('Root-canary-console-1');
  await page.getByTestId('field-sudo_ticket_minutes').fill('0');
  await page.getByTestId('elevation-form-submit').click();
  await until('the login shows its sudo mode', async () => (await page.getByTestId('targets-table').innerText()).includes('sudo: on-demand'));
  await shot(page, '14-login-sudo');
  // Opened again, the form shows the mode and that a root password is vaulted, not its value.
  await button.click();
  await page.getByTestId('elevation-form').waitFor();
  assert.equal(await page.getByTestId('field-sudo_inject').inputValue(), 'on-demand');
  assert.equal(await page.getByTestId('field-su_password').inputValue(), '');
  assert.ok(!(await page.content()).includes('Root-canary-console-1'));
  await page.getByTestId('field-su_password_remove').check();
  await page.getByTestId('field-sudo_inject').selectOption('off');
  await page.getByTestId('elevation-form-submit').click();
  await until('the mode is off again', async () => !(await page.getByTestId('targets-table').innerText()).includes('sudo: on-demand'));
  await page.goto(`${URL}/#/audit`);
  const audit = await page.getByTestId('audit-table').innerText();
  assert.ok(audit.includes('sudo answered by the gateway: on-demand') && audit.includes('su password set'), audit);
  assert.ok(audit.includes('su password removed'), audit);
  assert.ok(!audit.includes('Root-canary-console-1'));
  await page.context().close();
});

test("a target's file-transfer policy is set, shown and removed from the targets page", async () => {
  const page = await newPage();
  await login(page, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await page.goto(`${URL}/#/targets`);
  await page.getByTestId('transfers-web01').click();
  await page.getByTestId('transfer-form').waitFor();
  await page.getByTestId('field-download').selectOption('deny');
  await page.getByTestId('field-deny_extensions').fill('.EXE, sh');
  await page.getByTestId('field-max_size').fill('1048576');
  await page.getByTestId('field-icap').fill('icap://127.0.0.1:1344/avscan');
  await page.getByTestId('transfer-form-submit').click();
  await until('the policy is saved', async () => (await page.locator('.notice, [role=status]').allInnerTexts()).join(' ').includes('saved'));
  await page.getByTestId('transfers-web01').click();
  await page.getByTestId('transfer-form').waitFor();
  assert.equal(await page.getByTestId('field-download').inputValue(), 'deny');
  assert.equal(await page.getByTestId('field-deny_extensions').inputValue(), 'exe, sh');
  assert.equal(await page.getByTestId('field-icap').inputValue(), 'icap://127.0.0.1:1344/avscan');
  await shot(page, '15-transfer-policy');
  // A bad value is refused with what to give, and the form stays.
  await page.getByTestId('field-deny_sha256').fill('xyz');
  await page.getByTestId('transfer-form-submit').click();
  await until('the bad digest is refused', async () => (await page.getByTestId('transfer-form').innerText()).includes('64 hex digits'));
  await page.getByTestId('transfer-clear').click();
  await until('the form closes', async () => (await page.getByTestId('transfer-form').count()) === 0);
  await page.goto(`${URL}/#/audit`);
  const audit = await page.getByTestId('audit-table').innerText();
  assert.ok(audit.includes('File-transfer policy set: upload allow, download deny') && audit.includes('deny extensions exe, sh'), audit);
  assert.ok(audit.includes('File-transfer policy removed'), audit);
  await page.context().close();
});

/** Uploads `body` as `name` with legacy SCP spoken over the operator's ssh (`scp -t .` on
 * the target), as `scp -O` would; resolves when the session has ended. */
async function scpUpload(name, body) {
  const child = spawn(operatorSsh.program, [...operatorSsh.args, 'scp -t .'], { env: { ...process.env, ...operatorSsh.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const acks = [];
  let waiting = null;
  child.stdout.on('data', (d) => { for (const b of d) acks.push(b); if (waiting) { const w = waiting; waiting = null; w(); } });
  const ack = async () => { while (!acks.length) await new Promise((r) => { waiting = r; }); return acks.shift(); };
  assert.equal(await ack(), 0, 'the sink is ready');
  child.stdin.write(`C0644 ${body.length} ${name}\n`);
  assert.equal(await ack(), 0, 'the file is taken');
  child.stdin.write(body);
  child.stdin.write(Buffer.from([0]));
  assert.equal(await ack(), 0, 'the file is allowed and written');
  child.stdin.end();
  await new Promise((r) => child.on('exit', r));
}

test('a file the transfer policy keeps is downloaded from the session logs, as it was sent', async () => {
  vigil('transfer-policy', 'set', 'web01', '--keep-files-up-to', '100000');
  const body = Buffer.from(`kept by the gateway ${Date.now()}\n\u0000\u00ff`, 'latin1');
  await scpUpload(`kept-${Date.now()}.txt`, body);
  vigil('transfer-policy', 'clear', 'web01');
  const page = await newPage();
  await login(page, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await findSession(page, { user: 'alice', status: 'finished' });
  const rows = page.locator('tr[data-testid^="session-"][data-status="finished"]');
  await until('the finished sessions are listed', async () => (await rows.count()) > 0);
  // The newest first: the session that carried the upload.
  const newest = (await rows.first().getAttribute('data-testid')).slice('session-'.length);
  await action(page, newest, 'logs');
  const log = page.getByTestId('session-log');
  await log.waitFor();
  assert.ok((await log.innerText()).includes('a copy is kept with the session'), await log.innerText());
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('kept-file').first().click()]);
  assert.ok(readFileSync(await download.path()).equals(body), 'the kept file is the file sent');
  await shot(page, '16-kept-file');
  await page.getByRole('button', { name: 'Close' }).first().click();
  await page.goto(`${URL}/#/audit`);
  await until('the download is audited', async () => (await page.getByTestId('audit-table').innerText()).toLowerCase().includes('kept'));
  await page.context().close();
});

test('an assigned auditor can open that session and nothing else', async () => {
  const page = await newPage();
  await login(page, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await findSession(page, { user: 'alice' });
  await action(page, state.first, 'auditors');
  await page.getByTestId('auditor-add').click();
  await page.getByTestId('auditor-select').selectOption('carol');
  await shot(page, '14-configure-auditors');
  await page.getByTestId('auditor-save').click();
  await page.getByTestId('auditors').waitFor({ state: 'detached' });
  await page.context().close();

  const carol = await newPage();
  await login(carol, 'carol', 'carol-pw-7d1c');
  const rows = carol.locator('tbody tr');
  await until('carol sees her one session', async () => (await rows.count()) === 1);
  assert.equal(await rows.first().getAttribute('data-testid'), `session-${state.first}`);
  assert.equal(await carol.getByTestId('nav-users').count(), 0, 'no administration for an operator');
  await rows.first().getByTestId('actions').click();
  const menu = await carol.getByTestId('actions-menu').innerText();
  assert.ok(menu.includes('Session logs') && menu.includes('Session video'), menu);
  assert.ok(!menu.includes('Terminate') && !menu.includes('Prevent purge') && !menu.includes('Configure auditors'), menu);
  await carol.getByTestId('action-logs').click();
  await carol.getByTestId('session-log').waitFor();
  await shot(carol, '15-auditor-view');
  const status = (path) => carol.evaluate(async (p) => (await fetch(p)).status, path);
  assert.equal(await status(`/api/v1/sessions/${state.first}/events`), 200);
  assert.equal(await status(`/api/v1/sessions/${state.second}/events`), 403);
  assert.equal(await status(`/api/v1/sessions/${state.second}/recording`), 403);
  assert.equal(await status('/api/v1/users'), 403);
  await carol.context().close();
});

test('lock the operator: input dropped, new sessions refused, unlock and release', async () => {
  const { readFileSync: read } = await import('node:fs');
  const home = process.env.VIGIL_TARGET_HOME;
  const tag = Math.random().toString(36).slice(2, 8);
  const lockedProof = `${home}/vigil-lock-proof-${tag}`;
  const unlockedProof = `${home}/vigil-unlock-proof-${tag}`;
  const op = operator();
  await until('the operator gets a shell', () => op.out.includes('$') || op.out.includes('#'), 20000);
  op.child.stdin.write(`echo ready-${tag}\r`);

  const page = await newPage();
  await login(page, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await findSession(page, { user: 'alice', status: 'active' });
  const row = page.locator('tr[data-status="active"][data-user="alice"]').first();
  await row.waitFor();
  const id = (await row.getAttribute('data-testid')).replace('session-', '');
  await page.goto(`${URL}/#/sessions/${id}/live`);
  await until('the live view shows the shell', async () => (await terminalText(page, 'live-terminal')).includes(`ready-${tag}`));
  // A second viewer at the same time.
  const second = await newPage();
  await login(second, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await second.goto(`${URL}/#/sessions/${id}/live`);
  await until('two viewers at once', async () => (await terminalText(second, 'live-terminal')).includes(`ready-${tag}`), 3000);

  await page.getByTestId('live-lock').click();
  await until('the console shows the lock', async () => (await page.getByTestId('lock-state').getAttribute('data-locked')) === 'true');
  await until('the operator is told who locked it', () => op.out.includes('session was locked by admin'), 5000);
  op.child.stdin.write(`echo locked-input > ${lockedProof}\r`);
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(!existsSync(lockedProof), 'nothing the operator typed while locked reached the target');
  assert.ok(!(await terminalText(page, 'live-terminal')).includes('locked-input'), 'no echo either: the target never saw it');
  await shot(page, '16-live-locked');

  const refused = operator('echo', 'should-not-run');
  await until('a second session ends', () => refused.exited !== null, 20000);
  assert.notEqual(refused.exited, 0);
  assert.ok(refused.out.includes('locked by admin') && !refused.out.includes('should-not-run'), refused.out);

  await page.getByTestId('live-lock').click();
  await until('the console shows the unlock', async () => (await page.getByTestId('lock-state').getAttribute('data-locked')) === 'false');
  await until('the operator is told', () => op.out.includes('session was unlocked by admin'), 5000);
  op.child.stdin.write(`echo unlocked-${tag} > ${unlockedProof}\r`);
  await until('typing reaches the target again', () => existsSync(unlockedProof) && read(unlockedProof, 'utf8').includes(`unlocked-${tag}`), 5000);
  assert.ok(!existsSync(lockedProof), 'what was dropped is never delivered later');

  // Lock again, then release the user from the Users page: the session is unlocked too.
  await page.getByTestId('live-lock').click();
  await until('locked again', () => op.out.split('session was locked by admin').length > 2, 5000);
  await page.goto(`${URL}/#/users`);
  const alice = page.getByTestId('user-alice');
  await until('the user shows who locked them', async () => (await alice.innerText()).includes('Locked by admin'));
  await shot(page, '17-user-locked');
  await alice.getByRole('button', { name: 'Release' }).click();
  await until('the operator is unlocked by the release', () => op.out.split('session was unlocked by admin').length > 2, 5000);
  const again = operator('echo', `released-${tag}`);
  await until('a new session works after the release', () => again.exited !== null, 20000);
  assert.equal(again.exited, 0, again.out);
  assert.ok(again.out.includes(`released-${tag}`));

  op.child.stdin.write('exit\r');
  await until('the operator leaves', () => op.exited !== null, 10000);
  const log = JSON.parse(vigil('session', 'show', id, '--json').toString());
  const kinds = log.events.map((e) => `${e.kind}:${e.actor ?? ''}`);
  for (const want of ['live_view_started:admin', 'locked:admin', 'unlocked:admin', 'live_view_ended:admin']) {
    assert.ok(kinds.includes(want), `the session log has ${want}: ${kinds.join(', ')}`);
  }
  assert.equal(kinds.filter((k) => k === 'live_view_started:admin').length, 2, 'both viewings are logged');
  await second.context().close();
  await page.context().close();
});

test('a session with two terminals: the live stream and the video each pick a channel', async () => {
  const socket = `${process.env.VIGIL_DATA_DIR}/master-${Date.now()}.sock`;
  const env = { ...process.env, ...operatorSsh.env };
  const master = spawn(operatorSsh.program, ['-M', '-N', '-o', `ControlPath=${socket}`, ...operatorSsh.args], { env, stdio: 'ignore' });
  await until('the multiplexing master is up', () => existsSync(socket), 15000);
  const terminal = (command) => {
    const child = spawn(operatorSsh.program, ['-tt', '-S', socket, ...operatorSsh.args, command], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const run = { child, out: '' };
    child.stdout.on('data', (d) => { run.out += d.toString(); });
    return run;
  };
  const first = terminal('echo FIRST-$((40+2)); sleep 60');
  await until('the first terminal runs', () => first.out.includes('FIRST-42'), 15000);
  const second = terminal('echo SECOND-$((30+3)); sleep 60');
  await until('the second terminal runs', () => second.out.includes('SECOND-33'), 15000);
  const sessions = JSON.parse(vigil('session', 'list', '--json').toString());
  const id = sessions.find((s) => s.user_name === 'alice' && s.status !== 'closed').id;

  const page = await newPage();
  await login(page, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await page.goto(`${URL}/#/sessions/${id}/live`);
  await until('the first channel is shown first', async () => (await terminalText(page, 'live-terminal')).includes('FIRST-42'));
  await page.getByTestId('live-track').selectOption('1');
  await until('the second channel live', async () => (await terminalText(page, 'live-terminal')).includes('SECOND-33'));
  assert.ok(!(await terminalText(page, 'live-terminal')).includes('FIRST-42'), 'one channel per screen');
  await shot(page, '18-live-second-channel');

  // The video of a session still running says its recording is intact so far, and turns to
  // intact (sealed) by itself once the session ends, without a reload.
  const early = await newPage();
  await login(early, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await early.goto(`${URL}/#/sessions/${id}/video`);
  await until('a running session\'s recording is intact so far', async () => (await early.getByTestId('verification').getAttribute('data-verdict')) === 'interrupted');
  assert.ok((await early.getByTestId('verification-summary').innerText()).includes('still recording'));

  execFileSync(operatorSsh.program, ['-S', socket, '-O', 'exit', ...operatorSsh.args], { env, stdio: 'ignore' });
  await until('the master ends', () => master.exitCode !== null, 10000);
  await until('the session closes', () => JSON.parse(vigil('session', 'show', id, '--json').toString()).session.status === 'closed', 15000);
  await until('the open video turns intact once sealed', async () => (await early.getByTestId('verification').getAttribute('data-verdict')) === 'intact', 10000);
  assert.ok((await early.getByTestId('verification-summary').innerText()).includes('sealed'));
  await early.context().close();
  await page.goto(`${URL}/#/sessions/${id}/video`);
  const seekToEnd = async () => {
    await page.getByTestId('video-play').waitFor();
    const max = await until('the video knows its length', async () => Number(await page.getByTestId('video-seek').getAttribute('max')));
    await page.getByTestId('video-seek').fill(String(max));
  };
  await seekToEnd();
  await until('the first channel\'s video', async () => (await terminalText(page, 'video-terminal')).includes('FIRST-42'));
  await page.getByTestId('video-track').selectOption('1');
  await until('the picker switched', () => page.url().endsWith('/video/1'));
  await seekToEnd();
  await until('the second channel\'s video', async () => (await terminalText(page, 'video-terminal')).includes('SECOND-33'));
  assert.ok(!(await terminalText(page, 'video-terminal')).includes('FIRST-42'), 'one channel per video');
  await shot(page, '19-video-second-channel');
  await page.context().close();
});

test('audited commands: a rule made in the console stops a command; the logs, the video markers, the live view and the command search show it', async () => {
  const page = await newPage();
  await login(page, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await page.getByTestId('nav-rules').click();
  await page.getByTestId('rule-add').click();
  // A pattern that does not compile is refused with where and why; Escape closes the dialog.
  await page.getByTestId('rule-name').fill('broken');
  await page.getByTestId('rule-kind').selectOption('regex');
  await page.getByTestId('rule-pattern').fill('rm (-rf');
  await page.getByTestId('rule-submit').click();
  await until('a bad regex is refused with the reason', async () => /unclosed|parse|regex/i.test(await page.getByTestId('rule-error').innerText()));
  await shot(page, '20-rule-bad-regex');
  await page.keyboard.press('Escape');
  await until('Escape closes the dialog', async () => (await page.locator('.backdrop').count()) === 0);
  await page.getByTestId('rule-add').click();
  // Tab stays inside the dialog.
  for (let i = 0; i < 15; i++) await page.keyboard.press('Tab');
  assert.ok(await page.evaluate(() => !!document.activeElement?.closest('.modal')), 'focus stays in the dialog');
  await page.getByTestId('rule-name').fill('no-touch-web');
  await page.getByTestId('rule-kind').selectOption('command');
  await page.getByTestId('rule-pattern').fill('touch');
  await page.getByTestId('rule-score').fill('9');
  await page.getByTestId('rule-action').selectOption('prohibit');
  await page.getByTestId('rule-submit').click();
  await page.getByTestId('rule-no-touch-web').waitFor();
  await shot(page, '21-rules');

  const proof = `${process.env.VIGIL_TARGET_HOME}/web-rule-proof`;
  const op = operator();
  await until('the operator gets a shell', () => op.out.includes('$') || op.out.includes('#'), 20000);
  op.child.stdin.write('echo first-$((1+1))\r');
  await until('the first command runs', () => op.out.includes('first-2'), 10000);
  const row = page.locator('tr[data-status="active"][data-user="alice"]');
  await findSession(page, { user: 'alice', status: 'active' });
  await row.first().waitFor({ timeout: 10000 });
  const id = (await row.first().getAttribute('data-testid')).replace('session-', '');
  await page.goto(`${URL}/#/sessions/${id}/live`);
  await until('the live stream opens', async () => (await page.getByTestId('live-status').getAttribute('data-state')) === 'live');
  op.child.stdin.write(`touch ${proof}\r`);
  await until('the operator is told', () => op.out.includes('refused by rule no-touch-web'), 10000);
  await until('the live view lists the refused command', async () => (await page.getByTestId('live-commands').innerText()).includes('touch'), 6000);
  await until('the live view shows the risk', async () => (await page.getByTestId('live-risk').innerText()) === '9', 6000);
  await shot(page, '22-live-commands');
  op.child.stdin.write('exit\r');
  await until('the operator\'s ssh ends', () => op.exited !== null, 10000);
  assert.ok(!existsSync(proof), 'the refused command did not run on the target');

  await findSession(page, { user: 'alice', status: 'finished' });
  await page.getByTestId(`session-${id}`).waitFor();
  await action(page, id, 'logs');
  const commands = await page.getByTestId('session-commands').innerText();
  assert.ok(commands.includes(`touch ${proof}`) && commands.includes('prohibit') && commands.includes('no-touch-web'), commands);
  assert.ok(commands.includes('echo first-$((1+1))'), 'commands that matched no rule are listed too');
  const log = await page.getByTestId('session-log').innerText();
  assert.ok(log.includes('was refused (rule no-touch-web (+9))'), `event details read as sentences:\n${log}`);
  await shot(page, '23-session-log-commands');
  await page.keyboard.press('Escape');
  await until('Escape closes the log', async () => (await page.locator('.backdrop').count()) === 0);

  await action(page, id, 'video');
  const markers = page.getByTestId('video-marker');
  await until('the video lists the command markers', async () => (await markers.count()) >= 2);
  const refused = markers.filter({ hasText: 'no-touch-web' });
  await refused.first().click();
  // The refused line never reached the shell's screen; the screen at its marker is what
  // came before it, and not the end.
  await until('a marker jumps to its command', async () => {
    const screen = await terminalText(page, 'video-terminal');
    return screen.includes('first-2') && !screen.includes('logout');
  });
  assert.notEqual(await page.getByTestId('video-seek').inputValue(), '0', 'the position moved to the marker');
  await shot(page, '24-video-markers');

  await page.getByTestId('nav-commands').click();
  await page.getByTestId('command-query').fill('web-rule-proof');
  await page.getByTestId('command-search').click();
  await page.getByTestId('commands-table').waitFor();
  const found = await page.getByTestId('commands-table').innerText();
  assert.ok(found.includes('alice') && found.includes('web01') && found.includes('prohibit'), found);
  await shot(page, '25-command-search');

  await page.getByTestId('nav-rules').click();
  const rule = page.getByTestId('rule-no-touch-web');
  await rule.getByTestId('rule-toggle').click();
  await until('the rule is disabled', async () => (await page.getByTestId('rule-no-touch-web').getAttribute('data-enabled')) === 'false');
  await page.getByTestId('rule-no-touch-web').getByTestId('rule-remove').click();
  await page.getByTestId('confirm-yes').click();
  await until('the rule is gone', async () => (await page.getByTestId('rule-no-touch-web').count()) === 0);
  await page.getByTestId('nav-audit').click();
  const adminLog = await page.getByTestId('audit-table').innerText();
  assert.ok(adminLog.includes('Rule added: command touch, score 9, action prohibit'), `the administration log reads as sentences:\n${adminLog}`);
  assert.ok(adminLog.includes('prohibit, disabled'), adminLog);
  await page.context().close();
});

test('a long recording streams: the player reads a little ahead, and a seek or a marker shows its moment at once', async () => {
  // About 15 MB of output.
  const op = operator('seq', '1', '2000000');
  await until('the long session ends', () => op.exited !== null, 90000);
  const page = await newPage();
  await login(page, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await findSession(page, { user: 'alice', status: 'finished' });
  const row = page.locator('tr[data-status="finished"][data-user="alice"]').first();
  await row.waitFor();
  const id = (await row.getAttribute('data-testid')).replace('session-', '');
  await page.goto(`${URL}/#/sessions/${id}/video`);
  await page.getByTestId('video-play').waitFor();
  const loaded = async () => Number(await page.getByTestId('video-terminal').getAttribute('data-loaded'));
  await until('the start is loaded', async () => (await loaded()) > 0);
  await new Promise((r) => setTimeout(r, 1000));
  const ahead = await loaded();
  assert.ok(ahead < 6_000_000, `the player read ${ahead} bytes ahead of a paused start, not the whole 15 MB`);
  const max = await page.getByTestId('video-seek').getAttribute('max');
  await page.getByTestId('video-seek').fill(max);
  await until('a seek to the end shows the end', async () => (await terminalText(page, 'video-terminal')).includes('2000000'), 30000);
  const tail = await loaded();
  assert.ok(tail < 1_000_000, `the seek streamed from the end (${tail} bytes), not from the start`);
  await shot(page, '26-long-recording-end');
  // Back to the start: the screen of that moment, not what came after.
  await page.getByTestId('video-seek').fill('0');
  await until('a seek back shows the start', async () => !(await terminalText(page, 'video-terminal')).includes('2000000'));
  await page.context().close();
});

test('the endpoint manager: policies from its three entry points, a workstation enrolled with a token and approved', async () => {
  const page = await newPage();
  await login(page, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await page.getByTestId('nav-endpoint').click();
  // The console.rs stage enrolled a workstation with one rule (the recorded run below).
  await page.getByTestId('policy-vconsole').waitFor();
  await page.getByTestId('workstation-ws-console').waitFor();
  // New rule for user: the subject is a user, fixed.
  await page.getByTestId('policy-menu').click();
  await page.getByTestId('policy-new-user').click();
  await page.getByTestId('policy-form').waitFor();
  assert.equal(await page.getByTestId('policy-subject_kind').isDisabled(), true);
  await page.getByTestId('policy-name').fill('ping-alice');
  await page.getByTestId('policy-path').fill('/usr/bin/ping');
  await page.getByTestId('policy-subject_name').fill('alice');
  await page.getByTestId('policy-submit').click();
  await page.getByTestId('policy-ping-alice').waitFor();
  // New rule for workstation: the workstation is asked for; audit only.
  await page.getByTestId('policy-menu').click();
  await page.getByTestId('policy-new-workstation').click();
  await page.getByTestId('policy-form').waitFor();
  await page.getByTestId('policy-name').fill('ls-staff');
  await page.getByTestId('policy-path').fill('/bin/ls');
  await page.getByTestId('policy-permission').selectOption('deny');
  await page.getByTestId('policy-subject_kind').selectOption('group');
  await page.getByTestId('policy-subject_name').fill('staff');
  await page.getByTestId('policy-workstation').fill('ws01');
  await page.getByTestId('policy-submit').click();
  await page.getByTestId('policy-ls-staff').waitFor();
  const row = await page.getByTestId('policy-ls-staff').innerText();
  assert.ok(row.includes('group staff') && row.includes('ws01'), row);
  // New rule: a path that is not absolute is refused with what to give; the form stays.
  await page.getByTestId('policy-menu').click();
  await page.getByTestId('policy-new-rule').click();
  await page.getByTestId('policy-name').fill('bad');
  await page.getByTestId('policy-path').fill('ping');
  await page.getByTestId('policy-subject_name').fill('staff');
  await page.getByTestId('policy-submit').click();
  await until('the path is refused', async () => (await page.getByTestId('policy-error').innerText()).includes('absolute path'));
  await page.keyboard.press('Escape');
  // Disable, then remove after the confirmation.
  await page.getByTestId('policy-ping-alice').getByTestId('policy-toggle').click();
  await until('disabled', async () => (await page.getByTestId('policy-ping-alice').getAttribute('data-enabled')) === 'false');
  await shot(page, '30-endpoint-policies');
  await page.getByTestId('policy-ls-staff').getByTestId('policy-remove').click();
  await page.getByTestId('confirm-yes').click();
  await until('removed', async () => (await page.getByTestId('policy-ls-staff').count()) === 0);

  // A workstation: a token made in the console, an agent's enrolment with it (as the agent
  // sends it), pending, approved here.
  await page.getByTestId('token-open').click();
  await page.getByTestId('token-make').click();
  const token = (await page.getByTestId('token-value').innerText()).trim();
  assert.ok(token.startsWith('vigil-enrol-'), token);
  await page.keyboard.press('Escape');
  const { generateKeyPairSync } = await import('node:crypto');
  const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const enrolled = await page.evaluate(async (body) => {
    const r = await fetch('/api/v1/agent/enrol', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  }, { token, host_name: 'ws01', machine_id: '0123abcd', public_key: `ed25519:${raw.toString('base64')}` });
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled));
  await page.goto(`${URL}/#/sessions`);
  await page.goto(`${URL}/#/endpoint`);
  await until('pending', async () => (await page.getByTestId('workstation-ws01').getAttribute('data-status')) === 'pending');
  assert.ok((await page.getByTestId('workstation-ws01').innerText()).includes('Pending approval'));
  await page.getByTestId('workstation-ws01').getByTestId('workstation-approve').click();
  await until('approved', async () => (await page.getByTestId('workstation-ws01').getAttribute('data-status')) === 'approved');
  await shot(page, '31-endpoint-workstations');
  await page.goto(`${URL}/#/audit`);
  const audit = await page.getByTestId('audit-table').innerText();
  for (const said of ['Endpoint policy added: audit and record /usr/bin/ping for user alice', 'Endpoint policy disabled', 'Endpoint policy removed', 'Made a workstation enrolment token', 'pending approval', 'Workstation approved']) {
    assert.ok(audit.includes(said), `${said} in ${audit}`);
  }
  await page.context().close();
});

test('a workstation run recorded by the agent is in Remote Sessions: flagged, its logs and its video', async () => {
  const id = process.env.VIGIL_ENDPOINT_SESSION;
  assert.ok(id, 'console.rs records a workstation run first');
  const page = await newPage();
  await login(page, 'admin', process.env.VIGIL_ADMIN_PASSWORD);
  await findSession(page, { protocol: 'endpoint' });
  const row = page.getByTestId(`session-${id}`);
  await row.waitFor();
  // The list refreshes itself every few seconds: count once it has settled.
  await until('only endpoint sessions are listed', async () => (await page.locator('[data-testid^="session-"][data-user]').count()) === 1);
  const text = await row.innerText();
  assert.ok(text.includes('vwsconsole') && text.includes('ws-console') && text.includes('(workstation)'), text);
  await row.getByTestId('unknown-user').waitFor();
  await shot(page, '32-endpoint-session-flagged');
  await action(page, id, 'logs');
  const log = await until('the run in the session log', async () => {
    const t = await page.getByTestId('session-log').innerText();
    if (!t.includes('ran on')) throw new Error(t);
    return t;
  });
  for (const needle of ['ran on ws-console as /usr/local/bin/vconsole', 'status 7', 'recorded by vconsole', 'No Vigil user has this name']) {
    assert.ok(log.includes(needle), `the session log shows "${needle}":\n${log}`);
  }
  await page.getByRole('button', { name: 'Close' }).first().click();
  await action(page, id, 'video');
  await page.getByTestId('video-play').waitFor();
  await page.getByTestId('video-play').click();
  await until('the video plays the run', async () => (await terminalText(page, 'video-terminal')).includes('endpoint-console-42'), 15000);
  await until('the run\'s recording verified intact', async () => (await page.getByTestId('verification').getAttribute('data-verdict')) === 'intact');
  await shot(page, '33-endpoint-session-video');
  // Prevent purge and Configure auditors are offered as for every session.
  await page.goto(`${URL}/#/sessions`);
  await findSession(page, { protocol: 'endpoint' });
  await page.getByTestId(`session-${id}`).getByTestId('actions').click();
  await page.getByTestId('action-prevent-purge').waitFor();
  await page.getByTestId('action-auditors').waitFor();
  await page.context().close();
});

test('no API answer or live frame of the whole walk holds the vaulted credential', async () => {
  const canary = Buffer.from(process.env.VIGIL_CANARY ?? '');
  assert.ok(canary.length > 8, 'the canary is the target login\'s vaulted password');
  const got = (await Promise.all(answers)).filter(Boolean);
  assert.ok(got.length > 100, `the walk saw ${got.length} answers`);
  for (const [url, body] of got) assert.ok(!body.includes(canary), `the vaulted credential is in the answer of ${url}`);
});
