// The console: sign-in, then the navigation of the seeds (PAM Core > Audit > Sessions > Remote
// sessions) and the administration pages. Only what the signed-in user may use is shown.

import './style.css';
import '@xterm/xterm/css/xterm.css';
import { ApiError, call, setCsrf, type Me, P } from './api';
import { clear, errorText, h } from './ui';
import { leavePage, may, setSignedIn } from './state';
import { sessionsPage } from './sessions';
import { livePage } from './live';
import { videoPage } from './player';
import { auditPage, grantsPage, targetsPage, usersPage } from './admin';
import { commandsPage, rulesPage } from './rules';
import { endpointPage } from './endpoint';
import { nodesPage } from './nodes';

const app = document.getElementById('app')!;
let me: Me | null = null;

function signIn(value: Me | null): void {
  me = value;
  setSignedIn(value);
  setCsrf(value?.csrf_token ?? null);
}

async function boot(): Promise<void> {
  try {
    signIn(await call<Me>('GET', '/auth/me'));
    render();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) loginPage();
    else clear(app, h('p', { class: 'error' }, `The console cannot reach Vigil: ${errorText(e)}`));
  }
}

function loginPage(): void {
  const error = h('p', { class: 'error', 'data-testid': 'login-error', role: 'alert' });
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, 'data-testid': 'username' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'password' });
  const totp = h('input', { name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', 'data-testid': 'totp' });
  const totpRow = h('label', { hidden: true }, 'Verification code', totp);
  const button = h('button', { class: 'primary', type: 'submit', 'data-testid': 'login' }, 'Sign in');
  const form = h('form', { class: 'login', onsubmit: async (e: Event) => {
    e.preventDefault();
    button.setAttribute('disabled', '');
    button.textContent = 'Signing in…';
    error.textContent = '';
    try {
      signIn(await call<Me>('POST', '/auth/login', { username: username.value, password: password.value, totp: totp.value || undefined }));
      if (!location.hash || location.hash === '#/') location.hash = '#/sessions';
      render();
    } catch (err) {
      if (err instanceof ApiError && err.body.totp_required) {
        totpRow.hidden = false;
        totp.focus();
        error.textContent = 'Enter the code from your authenticator app.';
      } else {
        error.textContent = errorText(err);
      }
    } finally {
      button.removeAttribute('disabled');
      button.textContent = 'Sign in';
    }
  } },
  h('h1', {}, 'Vigil'),
  h('p', { class: 'muted' }, 'Privileged session gateway'),
  h('label', {}, 'User name', username),
  h('label', {}, 'Password', password),
  totpRow,
  error,
  button);
  clear(app, form);
  username.focus();
}

interface NavItem { hash: string; label: string; allowed: () => boolean }

function nav(): HTMLElement {
  const groups: [string, NavItem[]][] = [
    ['Audit', [
      { hash: '#/sessions', label: 'Sessions › Remote sessions', allowed: () => true },
      { hash: '#/commands', label: 'Commands', allowed: () => may(P.logs) },
      { hash: '#/rules', label: 'Audited commands', allowed: () => may(P.rules) },
      { hash: '#/audit', label: 'Administration log', allowed: () => may(P.auditLog) },
      { hash: '#/nodes', label: 'Nodes', allowed: () => may(P.auditLog) },
    ]],
    ['GO Endpoint Manager', [
      { hash: '#/endpoint', label: 'Policies › Linux › Access policies', allowed: () => may(P.endpoints) },
    ]],
    ['Access control', [
      { hash: '#/users', label: 'Users', allowed: () => may(P.users) },
      { hash: '#/targets', label: 'Targets and logins', allowed: () => may(P.targets) },
      { hash: '#/grants', label: 'Access grants', allowed: () => may(P.targets) },
    ]],
  ];
  const current = location.hash.split('?')[0];
  return h('nav', { class: 'side', 'aria-label': 'PAM Core' },
    ...groups.map(([title, items]) => {
      const visible = items.filter((i) => i.allowed());
      if (!visible.length) return null;
      return h('section', {}, h('h3', {}, title),
        ...visible.map((i) => h('a', { href: i.hash, class: current.startsWith(i.hash) ? 'active' : '', 'data-testid': `nav-${i.hash.slice(2)}` }, i.label)));
    }));
}

function topbar(): HTMLElement {
  return h('header', { class: 'top' },
    h('span', { class: 'brand' }, 'Vigil'),
    h('span', { class: 'product', title: 'Product menu' }, 'PAM Core'),
    h('span', { class: 'spacer' }),
    h('span', { class: 'who', 'data-testid': 'who' }, `${me?.user} · ${me?.role}`),
    h('button', { onclick: async () => {
      try { await call('POST', '/auth/logout'); } catch { /* signed out either way */ }
      leavePage();
      signIn(null);
      loginPage();
    } }, 'Sign out'));
}

function render(): void {
  if (!me) return loginPage();
  leavePage();
  const main = h('main', { id: 'page' });
  clear(app, topbar(), h('div', { class: 'layout' }, nav(), main));
  const [path] = location.hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  const page = (() => {
    switch (parts[0]) {
      case 'sessions':
        if (parts[2] === 'live') return livePage(main, parts[1], parts[3]);
        if (parts[2] === 'video') return videoPage(main, parts[1], parts[3]);
        return sessionsPage(main);
      case 'users': return usersPage(main);
      case 'targets': return targetsPage(main);
      case 'grants': return grantsPage(main);
      case 'audit': return auditPage(main);
      case 'rules': return rulesPage(main);
      case 'commands': return commandsPage(main);
      case 'endpoint': return endpointPage(main);
      case 'nodes': return nodesPage(main);
      default:
        location.hash = '#/sessions';
        return Promise.resolve();
    }
  })();
  page.catch((e) => clear(main, h('p', { class: 'error', role: 'alert' }, errorText(e))));
}

window.addEventListener('hashchange', render);
void boot();
