// Administration: users (roles, keys, second factor, disable), targets and their logins
// (credentials are write-only), access grants, and the log of administrator actions.

import { call, P } from './api';
import { may } from './state';
import { clear, errorText, h, modal, notice, when } from './ui';

const ROLES = ['pam-administrator', 'pam-auditor', 'system-administrator', 'operator'];

interface UserRow { name: string; role: string; disabled: boolean; has_totp: boolean; created_at: number; locked_by: string | null; keys: { id: string; fingerprint: string }[] }
interface LoginRow { login: string; kind: string; sudo_inject: string; sudo_password: boolean; su_password: boolean; sudo_ticket_minutes: number; sudo_blocked: boolean }
interface TargetRow { name: string; host: string; port: number; disabled: boolean; host_key: string | null; logins: LoginRow[] }

const SUDO_MODES = ['off', 'start', 'on-demand'];

interface TransferPolicy { upload: string; download: string; rsync: string; max_size: number | null; deny_content_types: string[]; deny_extensions: string[]; deny_sha256: string[]; command: string | null; yara: string | null; icap: string | null; keep_files_up_to: number | null }

/** The file-transfer policy form of a target (`login` null) or of one login: prefilled with
 * the policy it has, or the one its sessions run under. */
async function transferForm(target: string, login: string | null, reload: () => Promise<void>): Promise<void> {
  const path = `/targets/${target}/transfer-policy${login ? `?login=${encodeURIComponent(login)}` : ''}`;
  const current = await call<{ policy: TransferPolicy | null; effective: TransferPolicy }>('GET', path);
  const p = current.policy ?? current.effective;
  const words = (v: unknown) => String(v ?? '').split(/[\s,]+/).map((w) => w.trim()).filter(Boolean);
  const bytes = (v: FormDataEntryValue | null) => (String(v ?? '').trim() ? Number(v) : null);
  const text = (v: FormDataEntryValue | null) => String(v ?? '').trim() || null;
  const scope = login ? `${login}@${target}` : `${target} (every login)`;
  return formModal(`File transfers of ${scope}`, [
    h('p', { class: 'muted small' }, current.policy ? 'Saving replaces this policy; sessions that start from now on run under it.' : login ? 'This login has no policy of its own: its sessions run under the target\'s, shown here.' : 'No policy yet: everything is allowed and nothing inspected.'),
    select('Uploads (operator to target)', 'upload', ['allow', 'deny'], p.upload),
    select('Downloads (target to operator)', 'download', ['allow', 'deny'], p.download),
    select('rsync (not inspected: allowed and logged, or refused)', 'rsync', ['allow', 'deny'], p.rsync),
    field('Refuse files over (bytes)', 'max_size', { type: 'number', min: '1', value: p.max_size ? String(p.max_size) : '' }),
    field('Refuse content types (e.g. application/x-executable)', 'deny_content_types', { value: p.deny_content_types.join(', ') }),
    field('Refuse extensions (e.g. exe, tar.gz)', 'deny_extensions', { value: p.deny_extensions.join(', ') }),
    field('Refuse SHA-256 digests', 'deny_sha256', { value: p.deny_sha256.join(', ') }),
    field('External check (absolute path of a program)', 'command', { value: p.command ?? '' }),
    field('ICAP antivirus or DLP service (icap://host:1344/service)', 'icap', { value: p.icap ?? '' }),
    field('Keep transferred files up to (bytes) with the session', 'keep_files_up_to', { type: 'number', min: '0', value: p.keep_files_up_to !== null ? String(p.keep_files_up_to) : '' }),
    ...(current.policy ? [h('button', { type: 'button', 'data-testid': 'transfer-clear', onclick: async (e: Event) => {
      try {
        await call('DELETE', path);
        notice(`File-transfer policy of ${scope} removed.`);
        (e.target as HTMLElement).closest('form')?.querySelector<HTMLButtonElement>('footer button')?.click();
        await reload();
      } catch (err) { notice(errorText(err), 'error'); }
    } }, 'Remove this policy')] : []),
  ], 'Save policy', async (d) => {
    await call('PUT', path, {
      upload: d.get('upload'), download: d.get('download'), rsync: d.get('rsync'),
      max_size: bytes(d.get('max_size')), keep_files_up_to: bytes(d.get('keep_files_up_to')),
      deny_content_types: words(d.get('deny_content_types')), deny_extensions: words(d.get('deny_extensions')), deny_sha256: words(d.get('deny_sha256')),
      command: text(d.get('command')), yara: p.yara, icap: text(d.get('icap')),
    });
    await reload();
    return `File-transfer policy of ${scope} saved.`;
  }, 'transfer-form');
}

/** The elevation form of a login: how the gateway answers sudo, and its separate passwords
 * (write-only: empty keeps the vaulted one). */
function elevationForm(target: string, l: LoginRow, reload: () => Promise<void>): Promise<void> {
  const check = (label: string, name: string) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name, 'data-testid': `field-${name}` }), label);
  return formModal(`sudo for ${l.login}@${target}`, [
    select('The gateway answers sudo', 'sudo_inject', SUDO_MODES, l.sudo_inject),
    h('p', { class: 'muted small' }, 'start: the shell starts as root, the prompt answered before the operator types. on-demand: a plain sudo line read from bash gets the password, never shown. off: the prompt reaches the operator.'),
    field(l.sudo_password ? 'New sudo password (empty keeps the vaulted one)' : 'Separate sudo password (empty: the login\'s own)', 'sudo_password', { type: 'password', autocomplete: 'off' }),
    ...(l.sudo_password ? [check('Use the login\'s own password for sudo', 'sudo_password_remove')] : []),
    field(l.su_password ? 'New root password for su (empty keeps it)' : 'Root password for su (optional)', 'su_password', { type: 'password', autocomplete: 'off' }),
    ...(l.su_password ? [check('Forget the root password', 'su_password_remove')] : []),
    field('Minutes the target\'s sudo caches a password (its timestamp_timeout; 0 when it asks every time)', 'sudo_ticket_minutes', { type: 'number', min: '0', max: '1440', value: String(l.sudo_ticket_minutes) }),
  ], 'Save', async (d) => {
    const secret = (name: string) => d.get(`${name}_remove`) === 'on' ? null : (String(d.get(name) ?? '') || undefined);
    await call('PUT', `/targets/${target}/logins/${l.login}/elevation`, {
      sudo_inject: d.get('sudo_inject'),
      sudo_password: secret('sudo_password'),
      su_password: secret('su_password'),
      sudo_ticket_minutes: Number(d.get('sudo_ticket_minutes') || 0),
    });
    await reload();
    return `sudo for ${l.login}@${target}: ${String(d.get('sudo_inject'))}.`;
  }, 'elevation-form');
}
interface GrantRow { id: string; user_name: string; target_name: string; login: string | null; allow_port_forwarding: boolean; created_at: number }
interface AuditRow { id: number; at: number; actor: string; action: string; subject: string; detail: string }

/** A form in a modal: fields, a submit label, and what to do with the values. */
function formModal(title: string, fields: HTMLElement[], submit: string, run: (data: FormData) => Promise<string | void>, testid: string): Promise<void> {
  const error = h('p', { class: 'error', role: 'alert' });
  return modal(title, (close) => {
    const form = h('form', { class: 'stack', onsubmit: async (e: Event) => {
      e.preventDefault();
      try {
        const message = await run(new FormData(form));
        close();
        if (message) notice(message);
      } catch (err) {
        error.textContent = errorText(err);
      }
    } }, ...fields, error, h('footer', {}, h('button', { type: 'button', onclick: close }, 'Cancel'), h('button', { class: 'primary', type: 'submit', 'data-testid': `${testid}-submit` }, submit)));
    return [form];
  }, testid);
}

const field = (label: string, name: string, attrs: Record<string, string | boolean> = {}) =>
  h('label', {}, label, h('input', { name, 'data-testid': `field-${name}`, ...attrs }));
const select = (label: string, name: string, options: string[], selected = '') =>
  h('label', {}, label, h('select', { name, 'data-testid': `field-${name}` }, ...options.map((o) => h('option', { value: o, selected: o === selected }, o))));
const text = (label: string, name: string, attrs: Record<string, string | boolean> = {}) =>
  h('label', {}, label, h('textarea', { name, rows: 4, 'data-testid': `field-${name}`, ...attrs }));

function table(headers: string[], rows: HTMLElement[], testid: string): HTMLElement {
  return h('table', { class: 'grid', 'data-testid': testid }, h('thead', {}, h('tr', {}, ...headers.map((c) => h('th', {}, c)))), h('tbody', {}, ...rows));
}

interface SignInLimits { node: string; max_failures: number; window_secs: number; limited: { key: string; failures: number; blocked_secs: number | null; forgotten_in_secs: number }[] }

const minutes = (secs: number) => (secs >= 90 ? `${Math.ceil(secs / 60)} min` : `${secs} s`);

/** Failed sign-ins the node counts (console and SSH together), each clearable. */
function signInLimits(l: SignInLimits, reload: () => Promise<void>): HTMLElement[] {
  const who = (key: string) => (key.startsWith('user:') ? `user ${key.slice(5)}` : `address ${key.slice(5)}`);
  return [
    h('h2', {}, 'Failed sign-ins'),
    h('p', { class: 'muted' }, `Console and SSH together, on node ${l.node}: ${l.max_failures} failures within ${minutes(l.window_secs)} for a user name or from an address block both until the period ends; the right password is not even checked meanwhile.`),
    l.limited.length === 0
      ? h('p', { 'data-testid': 'sign-in-limits-empty' }, `No failed sign-ins in the last ${minutes(l.window_secs)}.`)
      : table(['Who', 'Failures', 'State', 'Forgotten in', ''], l.limited.map((x) => h('tr', { 'data-testid': `limit-${x.key}` },
        h('td', {}, who(x.key)),
        h('td', {}, String(x.failures)),
        h('td', {}, x.blocked_secs !== null ? h('span', { class: 'badge live' }, `Blocked for ${minutes(x.blocked_secs)}`) : 'Counting'),
        h('td', {}, minutes(x.forgotten_in_secs)),
        h('td', { class: 'buttons' }, h('button', { onclick: async () => {
          try { await call('DELETE', `/sign-in-limits/${encodeURIComponent(x.key)}`); notice(`Failed sign-ins of ${who(x.key)} cleared.`); await reload(); }
          catch (e) { notice(errorText(e), 'error'); await reload(); }
        } }, 'Clear')))), 'sign-in-limits'),
  ];
}

export async function usersPage(main: HTMLElement): Promise<void> {
  const [users, limits] = await Promise.all([call<UserRow[]>('GET', '/users'), call<SignInLimits>('GET', '/sign-in-limits')]);
  const reload = () => usersPage(main);
  const act = (label: string, run: () => Promise<unknown>, done: string) => h('button', { onclick: async () => {
    try { await run(); notice(done); await reload(); } catch (e) { notice(errorText(e), 'error'); }
  } }, label);
  clear(main,
    h('h1', {}, 'Users'),
    h('div', { class: 'toolbar' }, h('button', { class: 'primary', 'data-testid': 'user-add', onclick: () => void formModal('Add user', [
      field('Name', 'name', { required: true, pattern: '[A-Za-z0-9._-]{1,64}' }),
      select('Role', 'role', ROLES, 'operator'),
      field('Password (leave empty to generate one)', 'password', { type: 'password', autocomplete: 'new-password' }),
    ], 'Add user', async (d) => {
      const res = await call<{ password?: string }>('POST', '/users', { name: d.get('name'), role: d.get('role'), password: d.get('password') || undefined });
      await reload();
      if (res.password) await modal('One-time password', (close) => [h('p', {}, 'Give this password to the user; it is shown only now.'), h('code', { class: 'secret', 'data-testid': 'generated-password' }, res.password ?? ''), h('footer', {}, h('button', { class: 'primary', onclick: close }, 'Done'))]);
      return `User ${d.get('name')} added.`;
    }, 'user-form') }, 'Add user')),
    table(['Name', 'Role', 'State', 'Second factor', 'SSH keys', 'Created', ''], users.map((u) => h('tr', { 'data-testid': `user-${u.name}` },
      h('td', {}, u.name),
      h('td', {}, h('select', { 'aria-label': `Role of ${u.name}`, onchange: async (e: Event) => {
        try { await call('PATCH', `/users/${u.name}`, { role: (e.target as HTMLSelectElement).value }); notice(`Role of ${u.name} changed.`); }
        catch (err) { notice(errorText(err), 'error'); await reload(); }
      } }, ...ROLES.map((r) => h('option', { value: r, selected: r === u.role }, r)))),
      h('td', {}, u.disabled ? h('span', { class: 'badge purged' }, 'Disabled') : 'Enabled',
        u.locked_by ? h('span', { class: 'badge live', title: 'Cannot start sessions until released' }, `Locked by ${u.locked_by}`) : null),
      h('td', {}, u.has_totp ? 'TOTP' : '—'),
      h('td', {}, ...u.keys.map((k) => h('div', { class: 'mono' }, k.fingerprint, ' ', h('button', { class: 'icon', 'aria-label': 'Remove key', onclick: async () => {
        try { await call('DELETE', `/users/${u.name}/keys/${k.id}`); await reload(); } catch (e) { notice(errorText(e), 'error'); }
      } }, '×')))),
      h('td', {}, when(u.created_at)),
      h('td', { class: 'buttons' },
        u.locked_by && may(P.lock) ? act('Release', () => call('POST', `/users/${u.name}/release`), `${u.name} may start sessions again.`) : null,
        act(u.disabled ? 'Enable' : 'Disable', () => call('PATCH', `/users/${u.name}`, { disabled: !u.disabled }), `${u.name} ${u.disabled ? 'enabled' : 'disabled'}.`),
        h('button', { onclick: () => void formModal(`Add an SSH key for ${u.name}`, [text('Public key (one line, ssh-ed25519 AAAA…)', 'public_key', { required: true })], 'Add key',
          async (d) => { await call('POST', `/users/${u.name}/keys`, { public_key: d.get('public_key') }); await reload(); return 'Key added.'; }, 'key-form') }, 'Add key'),
        h('button', { onclick: () => void formModal(`Set the password of ${u.name}`, [field('New password', 'password', { type: 'password', required: true, autocomplete: 'new-password' })], 'Set password',
          async (d) => { await call('PATCH', `/users/${u.name}`, { password: d.get('password') }); return 'Password changed; the user was signed out everywhere.'; }, 'password-form') }, 'Password'),
        h('button', { onclick: async () => {
          try {
            const t = await call<{ otpauth_url: string; secret: string }>('POST', `/users/${u.name}/totp`);
            await modal('Second factor enrolled', (close) => [h('p', {}, 'Add this to an authenticator app; it is shown only now.'), h('code', { class: 'secret' }, t.secret), h('p', { class: 'mono small' }, t.otpauth_url), h('footer', {}, h('button', { class: 'primary', onclick: close }, 'Done'))]);
            await reload();
          } catch (e) { notice(errorText(e), 'error'); }
        } }, 'Enrol TOTP'))),
    ), 'users-table'),
    ...signInLimits(limits, reload));
}

export async function targetsPage(main: HTMLElement): Promise<void> {
  const targets = await call<TargetRow[]>('GET', '/targets');
  const reload = () => targetsPage(main);
  const credentialFields = () => [
    field('Password', 'password', { type: 'password', autocomplete: 'off' }),
    text('or a private key (OpenSSH, unencrypted)', 'private_key'),
  ];
  const credential = (d: FormData) => {
    const password = String(d.get('password') ?? '');
    const key = String(d.get('private_key') ?? '');
    return key.trim() ? { private_key: key } : { password };
  };
  clear(main,
    h('h1', {}, 'Targets and logins'),
    h('p', { class: 'muted' }, 'Credentials go into the vault and are never shown again, to anyone.'),
    h('div', { class: 'toolbar' }, h('button', { class: 'primary', 'data-testid': 'target-add', onclick: () => void formModal('Add target', [
      field('Name', 'name', { required: true, pattern: '[A-Za-z0-9._-]{1,64}' }),
      field('Host', 'host', { required: true }),
      field('Port', 'port', { type: 'number', value: '22', min: '1', max: '65535' }),
      text('Host key (its ssh_host_ed25519_key.pub); leave empty to trust the key it presents now', 'host_key'),
    ], 'Add target', async (d) => {
      const hostKey = String(d.get('host_key') ?? '').trim();
      await call('POST', '/targets', { name: d.get('name'), host: d.get('host'), port: Number(d.get('port') || 22), host_key: hostKey || undefined, trust_on_add: !hostKey });
      await reload();
      return `Target ${d.get('name')} added; its host key is pinned.`;
    }, 'target-form') }, 'Add target')),
    table(['Name', 'Address', 'State', 'Logins', ''], targets.map((t) => h('tr', { 'data-testid': `target-${t.name}` },
      h('td', {}, t.name),
      h('td', {}, `${t.host}:${t.port}`),
      h('td', {}, t.disabled ? h('span', { class: 'badge purged' }, 'Disabled') : 'Enabled'),
      h('td', {}, ...t.logins.map((l) => h('div', { 'data-testid': `login-${t.name}-${l.login}` }, `${l.login} (${l.kind}) `,
        l.sudo_inject !== 'off' ? h('span', { class: 'badge', title: 'how the gateway answers sudo' }, `sudo: ${l.sudo_inject}`) : '',
        l.sudo_blocked ? h('span', { class: 'badge purged', 'data-testid': 'sudo-blocked', title: 'the target rejected the vaulted password twice in 15 minutes; saving the login\'s sudo settings lifts it' }, 'sudo blocked') : '',
        h('button', { 'data-testid': `elevation-${t.name}-${l.login}`, onclick: () => void elevationForm(t.name, l, reload) }, 'sudo…'),
        h('button', { 'data-testid': `transfers-${t.name}-${l.login}`, title: 'the file-transfer policy of this login (replaces the target\'s)', onclick: () => void transferForm(t.name, l.login, reload).catch((e) => notice(errorText(e), 'error')) }, 'Transfers (this login)…'),
        h('button', { onclick: () => void formModal(`New credential for ${l.login}@${t.name}`, credentialFields(), 'Replace credential',
          async (d) => { await call('PUT', `/targets/${t.name}/logins/${l.login}`, credential(d)); return 'Credential replaced.'; }, 'rotate-form') }, 'Rotate'),
        h('button', { onclick: async () => { try { await call('DELETE', `/targets/${t.name}/logins/${l.login}`); await reload(); } catch (e) { notice(errorText(e), 'error'); } } }, 'Remove')))),
      h('td', { class: 'buttons' },
        h('button', { 'data-testid': `transfers-${t.name}`, title: 'the file-transfer policy of every login of this target', onclick: () => void transferForm(t.name, null, reload).catch((e) => notice(errorText(e), 'error')) }, 'Transfers (every login)…'),
        h('button', { onclick: () => void formModal(`Add a login on ${t.name}`, [field('Login', 'login', { required: true }), ...credentialFields()], 'Add login',
          async (d) => { await call('POST', `/targets/${t.name}/logins`, { login: d.get('login'), ...credential(d) }); await reload(); return 'Login added.'; }, 'login-form') }, 'Add login'),
        h('button', { onclick: () => void formModal(`Edit ${t.name}`, [field('Host', 'host', { value: t.host, required: true }), field('Port', 'port', { type: 'number', value: String(t.port) })], 'Save',
          async (d) => { await call('PATCH', `/targets/${t.name}`, { host: d.get('host'), port: Number(d.get('port')) }); await reload(); return 'Target saved.'; }, 'edit-target-form') }, 'Edit'),
        h('button', { onclick: async () => { try { await call('PATCH', `/targets/${t.name}`, { disabled: !t.disabled }); await reload(); } catch (e) { notice(errorText(e), 'error'); } } }, t.disabled ? 'Enable' : 'Disable'))),
    ), 'targets-table'));
}

export async function grantsPage(main: HTMLElement): Promise<void> {
  const [grants, users, targets] = await Promise.all([
    call<GrantRow[]>('GET', '/grants'),
    call<UserRow[]>('GET', '/users').catch(() => [] as UserRow[]),
    call<TargetRow[]>('GET', '/targets'),
  ]);
  const reload = () => grantsPage(main);
  clear(main,
    h('h1', {}, 'Access grants'),
    h('div', { class: 'toolbar' }, h('button', { class: 'primary', 'data-testid': 'grant-add', onclick: () => void formModal('Grant access', [
      users.length ? select('User', 'user', users.map((u) => u.name)) : field('User', 'user', { required: true }),
      select('Target', 'target', targets.map((t) => t.name)),
      field('Only this login (empty: every login)', 'login'),
      h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'allow_port_forwarding' }), ' Allow port forwarding (-L)'),
    ], 'Grant', async (d) => {
      await call('POST', '/grants', { user: d.get('user'), target: d.get('target'), login: d.get('login') || undefined, allow_port_forwarding: d.get('allow_port_forwarding') === 'on' });
      await reload();
      return 'Access granted.';
    }, 'grant-form') }, 'Grant access')),
    table(['User', 'Target', 'Login', 'Port forwarding', 'Since', ''], grants.map((g) => h('tr', {},
      h('td', {}, g.user_name), h('td', {}, g.target_name), h('td', {}, g.login ?? 'every login'),
      h('td', {}, g.allow_port_forwarding ? 'allowed' : '—'), h('td', {}, when(g.created_at)),
      h('td', {}, h('button', { onclick: async () => { try { await call('DELETE', `/grants/${g.id}`); await reload(); } catch (e) { notice(errorText(e), 'error'); } } }, 'Revoke')))), 'grants-table'));
}

type Detail = Record<string, unknown>;
const val = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
const via = (d: Detail) => (d.via === 'cli' ? ' (from the CLI)' : d.via === 'node' ? ' (by the node)' : d.addr ? ` from ${val(d.addr)}` : '');
const ruleText = (r: unknown) => {
  const x = (r ?? {}) as Detail;
  return `${val(x.kind ?? (x.pattern as Detail | undefined)?.kind)} ${val(typeof x.pattern === 'object' ? (x.pattern as Detail).value : x.pattern)}, score ${val(x.score)}, ${val(x.action)}${x.enabled === false ? ', disabled' : ''}`;
};

const agentPolicyText = (p: unknown) => {
  const x = (p ?? {}) as Detail;
  const who = (x.subject ?? {}) as Detail;
  const what = [x.audit ? 'audit' : '', x.record ? 'record' : ''].filter(Boolean).join(' and ');
  return `${what} ${val(x.path)}${x.symlink ? ' (a symbolic link)' : ''} for ${val(who.kind)} ${val(who.name)} on ${x.workstation ? val(x.workstation) : 'every workstation'}`;
};

/** What an administration-log entry says, as a sentence (the raw detail stays in the title). */
const ADMIN_SENTENCES: Record<string, (d: Detail, r: AuditRow) => string> = {
  console_login: (d) => `Signed in to the console from ${val(d.addr)}.`,
  console_logout: (d) => `Signed out of the console (${val(d.addr)}).`,
  console_login_failed: (d) => `A console sign-in from ${val(d.addr)} failed: ${val(d.reason)}.`,
  auth_failed: (d) => `A gateway sign-in failed: ${val(d.reason)}.`,
  ssh_login_blocked: (d) => `A gateway sign-in from ${val(d.client)} was refused by the rate limit (${val(d.wait_secs)} s to wait).`,
  console_login_blocked: (d) => `A console sign-in from ${val(d.addr)} was refused by the rate limit.`,
  account_elevation_changed: (d) => `sudo answered by the gateway: ${val(d.sudo_inject)}; sudo password ${val(d.sudo_secret)}, su password ${val(d.su_secret)}${d.sudo_ticket_minutes !== undefined ? `, sudo cache ${val(d.sudo_ticket_minutes)} min` : ''}${via(d)}.`,
  elevation_rejected: (d) => `The target refused the vaulted ${val(d.tool)} password after ${val(d.command)}${d.blocked ? '; answering is blocked for this login until its sudo settings are saved again' : ''}.`,
  transfer_policy_set: (d) => {
    const p = (d.policy ?? {}) as Detail;
    const lists = ['deny_extensions', 'deny_content_types', 'deny_sha256'].filter((k) => Array.isArray(p[k]) && (p[k] as unknown[]).length).map((k) => `${k.replace(/_/g, ' ')} ${(p[k] as string[]).join(', ')}`);
    return `File-transfer policy set: upload ${val(p.upload)}, download ${val(p.download)}, rsync ${val(p.rsync)}${p.max_size ? `, max ${val(p.max_size)} bytes` : ''}${lists.length ? `; ${lists.join('; ')}` : ''}${via(d)}.`;
  },
  transfer_policy_cleared: (d) => `File-transfer policy removed${via(d)}.`,
  agent_token_created: (d) => `Made a workstation enrolment token, valid until ${new Date(Number(d.expires_at)).toISOString()}${via(d)}.`,
  agent_enrolled: (d) => `Workstation agent enrolled (machine ${val(d.machine_id)}, key ${val(d.fingerprint)}); pending approval${via(d)}.`,
  agent_alert: (d) => `Workstation alert (${val(d.alert)}): ${val(d.message)}${via(d)}.`,
  agent_approved: (d) => `Workstation approved (key ${val(d.fingerprint)})${via(d)}.`,
  agent_removed: (d) => `Workstation removed (key ${val(d.fingerprint)})${via(d)}.`,
  agent_policy_added: (d) => `Endpoint policy added: ${agentPolicyText(d.policy)}${via(d)}.`,
  agent_policy_enabled: (d) => `Endpoint policy enabled${via(d)}.`,
  agent_policy_disabled: (d) => `Endpoint policy disabled${via(d)}.`,
  agent_policy_removed: (d) => `Endpoint policy removed (it was ${agentPolicyText(d.policy)})${via(d)}.`,
  user_added: (d) => `Added with the role ${val(d.role)}${via(d)}.`,
  user_role_changed: (d) => `Role changed from ${val(d.from)} to ${val(d.to)}${via(d)}.`,
  user_disabled: (d) => d.reason ? `Disabled: ${val(d.reason)}${d.command ? `, after running ${val(d.command)}` : ''}${via(d)}.` : `Disabled${via(d)}.`,
  user_enabled: (d) => `Enabled again${via(d)}.`,
  recording_played: (d) => `Played the recording (track ${val(d.track)})${via(d)}.`,
  recording_downloaded: (d) => `Downloaded the recording (track ${val(d.track)})${via(d)}.`,
  kept_file_downloaded: (d) => `Downloaded the kept file ${val(d.path)} (${val(d.size)} bytes, SHA-256 ${val(d.sha256)})${via(d)}.`,
  rule_added: (d) => `Rule added: ${val(d.kind)} ${val(d.pattern)}, score ${val(d.score)}, action ${val(d.action)}${via(d)}.`,
  rule_changed: (d) => `Rule changed from ${ruleText(d.before)} to ${ruleText(d.after)}${via(d)}.`,
  rule_removed: (d) => `Rule removed (it was ${ruleText(d.rule)})${via(d)}.`,
  session_terminated: (d) => `Ended the live session of ${val(d.user)}${via(d)}.`,
  session_locked: (d) => `Locked the input of ${val(d.user)}${via(d)}.`,
  session_unlocked: (d) => `Unlocked the input of ${val(d.user)}${via(d)}.`,
  session_prevent_purge: (d) => `Kept from the retention purge: ${val(d.reason)}${via(d)}.`,
};

export function describeAdmin(r: AuditRow): string {
  let d: Detail;
  try { d = JSON.parse(r.detail) as Detail; } catch { return r.detail; }
  if (typeof d !== 'object' || d === null) return r.detail;
  const say = ADMIN_SENTENCES[r.action];
  if (say) return say(d, r);
  const parts = Object.entries(d).filter(([k]) => k !== 'via').map(([k, v]) => `${k.replace(/_/g, ' ')}: ${val(v)}`);
  return `${parts.join(' · ')}${via(d)}`;
}

export async function auditPage(main: HTMLElement): Promise<void> {
  const rows = await call<AuditRow[]>('GET', '/audit?limit=500');
  clear(main,
    h('h1', {}, 'Administration log'),
    h('p', { class: 'muted' }, 'Sign-ins, live viewings, plays and downloads of recordings, terminations, purges and every change to users, targets, logins and grants.'),
    table(['When', 'Who', 'Action', 'Subject', 'Details'], rows.map((r) => h('tr', { 'data-action': r.action },
      h('td', {}, when(r.at)), h('td', {}, r.actor), h('td', {}, r.action.replace(/_/g, ' ')), h('td', { class: 'mono' }, r.subject), h('td', { class: 'small', title: r.detail }, describeAdmin(r)))), 'audit-table'));
}
