// What the browser walks share: Chromium as Debian ships it, waiting for a state, the
// operator's real ssh, signing in, reading a terminal on the page.
import { spawn } from 'node:child_process';

/** Debian's Chromium, headless, with nothing that reaches the network on its own. */
export const chromiumOptions = {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
};

/** Polls until `probe()` returns a truthy value; fails with `what` after `ms`. */
export async function until(what, probe, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await probe(); if (last) return last; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out: ${what} (last: ${last})`);
}

/** The operator's ssh (`how`: {program, args, env}) with a remote terminal running
 * `command`; `out` collects what the operator sees, `exited` its exit status. */
export function spawnOperator(how, command = []) {
  const child = spawn(how.program, ['-tt', ...how.args, ...command], { env: { ...process.env, ...how.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const session = { child, out: '', exited: null };
  child.stdout.on('data', (d) => { session.out += d.toString(); });
  child.stderr.on('data', (d) => { session.out += d.toString(); });
  child.on('exit', (code) => { session.exited = code ?? -1; });
  return session;
}

/** Signs in to the console at `url` and waits for the sessions page. */
export async function signIn(page, url, user, password) {
  await page.goto(url);
  await page.getByTestId('username').fill(user);
  await page.getByTestId('password').fill(password);
  await page.getByTestId('login').click();
  await page.getByTestId('sessions-table').waitFor();
}

/** The text of the terminal with this test id. */
export const terminalText = (page, testid) => page.getByTestId(testid).innerText();
