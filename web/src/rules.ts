// Audited commands: the rules page (add, edit, enable, disable, remove) and the search over
// the commands operators ran ("who ran X where"). A rule change reaches the sessions that
// start after it; running sessions keep the rules they started with.

import { call, P } from './api';
import { may } from './state';
import { clear, confirm, errorText, h, modal, notice, when } from './ui';
import { sessionLogs } from './sessions';

export interface RuleRow {
  name: string; pattern_kind: string; pattern: string; score: number; action: string; enabled: boolean;
  targets: string[]; logins: string[]; users: string[]; created_at: number; updated_at: number;
}
interface CommandHit {
  session_id: string; at: number; user: string; target: string | null; login: string | null;
  command: string; action: string; rules: { rule: string; score: number; action: string }[]; source: string;
}

const ACTIONS: [string, string][] = [
  ['alert', 'Alert: the command runs; score, log and warning'],
  ['prohibit', 'Prohibit execution: the command does not run'],
  ['interrupt', 'Interrupt the session'],
  ['deactivate', 'Interrupt and deactivate the user\'s account'],
];
const KINDS: [string, string][] = [
  ['command', 'Command name or prefix (rm, systemctl stop)'],
  ['regex', 'Regular expression over the command'],
  ['class', 'Obfuscation class (eval, pipe-to-shell, dynamic-command, definition)'],
];

const list = (v: FormDataEntryValue | null) => String(v ?? '').split(',').map((x) => x.trim()).filter(Boolean);
const scope = (r: RuleRow) => {
  const parts = [
    r.targets.length ? `targets ${r.targets.join(', ')}` : '',
    r.logins.length ? `logins ${r.logins.join(', ')}` : '',
    r.users.length ? `users ${r.users.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'everywhere';
};

function ruleForm(rule: RuleRow | null, done: () => Promise<void>): Promise<void> {
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'rule-error' });
  const field = (label: string, name: string, value: string, attrs: Record<string, string | boolean> = {}) =>
    h('label', {}, label, h('input', { name, value, 'data-testid': `rule-${name}`, ...attrs }));
  const choice = (label: string, name: string, options: [string, string][], selected: string) =>
    h('label', {}, label, h('select', { name, 'data-testid': `rule-${name}` }, ...options.map(([v, l]) => h('option', { value: v, selected: v === selected }, l))));
  return modal(rule ? `Edit rule ${rule.name}` : 'New audited-command rule', (close) => {
    const form = h('form', { class: 'stack', onsubmit: async (e: Event) => {
      e.preventDefault();
      const d = new FormData(form);
      const body = {
        name: rule ? undefined : String(d.get('name') ?? '').trim(),
        kind: d.get('kind'), pattern: d.get('pattern'), score: Number(d.get('score') || 0), action: d.get('action'),
        enabled: d.get('enabled') === 'on',
        targets: list(d.get('targets')), logins: list(d.get('logins')), users: list(d.get('users')),
      };
      try {
        if (rule) await call('PATCH', `/rules/${encodeURIComponent(rule.name)}`, body);
        else await call('POST', '/rules', body);
        close();
        notice(rule ? `Rule ${rule.name} saved; sessions that start from now on use it.` : `Rule ${body.name} added; sessions that start from now on use it.`);
        await done();
      } catch (err) {
        error.textContent = errorText(err);
      }
    } },
    rule ? null : field('Name', 'name', '', { required: true, pattern: '[A-Za-z0-9._-]{1,64}' }),
    choice('Pattern kind', 'kind', KINDS, rule?.pattern_kind ?? 'command'),
    field('Pattern', 'pattern', rule?.pattern ?? '', { required: true, class: 'mono' }),
    field('Risk score', 'score', String(rule?.score ?? 10), { type: 'number', min: '0', max: '1000000' }),
    choice('Action', 'action', ACTIONS, rule?.action ?? 'alert'),
    h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'enabled', checked: rule?.enabled ?? true, 'data-testid': 'rule-enabled' }), ' Enabled'),
    h('fieldset', {}, h('legend', {}, 'Applies to (comma-separated; empty: everywhere)'),
      field('Targets', 'targets', rule?.targets.join(', ') ?? ''),
      field('Logins', 'logins', rule?.logins.join(', ') ?? ''),
      field('Users', 'users', rule?.users.join(', ') ?? '')),
    error,
    h('footer', {}, h('button', { type: 'button', onclick: close }, 'Cancel'), h('button', { class: 'primary', type: 'submit', 'data-testid': 'rule-submit' }, rule ? 'Save' : 'Add rule')));
    return [form];
  }, 'rule-form');
}

export async function rulesPage(main: HTMLElement): Promise<void> {
  const rules = await call<RuleRow[]>('GET', '/rules');
  const reload = () => rulesPage(main);
  const act = (label: string, run: () => Promise<unknown>, done: string, testid: string) => h('button', { 'data-testid': testid, onclick: async () => {
    try { await run(); notice(done); await reload(); } catch (e) { notice(errorText(e), 'error'); }
  } }, label);
  clear(main,
    h('p', { class: 'crumbs' }, 'PAM Core › Audit › Audited commands'),
    h('h1', {}, 'Audited commands'),
    h('p', { class: 'muted' }, 'Every command an operator runs is checked against these rules. A match adds its score to the session\'s risk and is logged; its action may prohibit the command, interrupt the session or deactivate the user. Changes apply to sessions that start after them.'),
    h('div', { class: 'toolbar' }, h('button', { class: 'primary', 'data-testid': 'rule-add', onclick: () => void ruleForm(null, reload) }, 'New rule')),
    rules.length ? h('table', { class: 'grid', 'data-testid': 'rules-table' },
      h('thead', {}, h('tr', {}, ...['Name', 'Pattern', 'Score', 'Action', 'Applies to', 'State', 'Changed', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, ...rules.map((r) => h('tr', { 'data-testid': `rule-${r.name}`, 'data-enabled': String(r.enabled) },
        h('td', {}, r.name),
        h('td', {}, h('span', { class: 'muted small' }, `${r.pattern_kind} `), h('code', {}, r.pattern)),
        h('td', {}, String(r.score)),
        h('td', {}, h('span', { class: `badge action-${r.action}` }, r.action)),
        h('td', {}, scope(r)),
        h('td', {}, r.enabled ? 'Enabled' : h('span', { class: 'badge purged' }, 'Disabled')),
        h('td', {}, when(r.updated_at)),
        h('td', { class: 'buttons' },
          h('button', { 'data-testid': 'rule-edit', onclick: () => void ruleForm(r, reload) }, 'Edit'),
          act(r.enabled ? 'Disable' : 'Enable', () => call('PATCH', `/rules/${encodeURIComponent(r.name)}`, { enabled: !r.enabled }), `Rule ${r.name} ${r.enabled ? 'disabled' : 'enabled'}.`, 'rule-toggle'),
          h('button', { class: 'danger', 'data-testid': 'rule-remove', onclick: async () => {
            if (!(await confirm('Remove rule', `Remove the rule ${r.name}? Sessions already running keep it until they end.`))) return;
            try { await call('DELETE', `/rules/${encodeURIComponent(r.name)}`); notice(`Rule ${r.name} removed.`); await reload(); }
            catch (e) { notice(errorText(e), 'error'); }
          } }, 'Remove')))))) :
      h('p', { class: 'muted', 'data-testid': 'rules-empty' }, 'No rule yet: commands are logged, none is scored or stopped.'));
}

export async function commandsPage(main: HTMLElement): Promise<void> {
  const q = new URLSearchParams(location.hash.split('?')[1] ?? '').get('q') ?? '';
  const input = h('input', { type: 'search', name: 'q', value: q, required: true, placeholder: 'part of a command: rm -rf, systemctl, passwd', 'data-testid': 'command-query', 'aria-label': 'Command' });
  const state = h('p', { class: 'muted', 'data-testid': 'commands-state', role: 'status' });
  const results = h('div', {});
  clear(main,
    h('p', { class: 'crumbs' }, 'PAM Core › Audit › Commands'),
    h('h1', {}, 'Commands'),
    h('p', { class: 'muted' }, 'Who ran what, where: the commands of every session, newest first.'),
    h('form', { class: 'filters', onsubmit: (e: Event) => {
      e.preventDefault();
      location.hash = `#/commands?${new URLSearchParams({ q: input.value.trim() }).toString()}`;
    } }, h('label', {}, 'Command', input), h('div', { class: 'buttons' }, h('button', { class: 'primary', type: 'submit', 'data-testid': 'command-search' }, 'Search'))),
    state, results);
  input.focus();
  if (!q.trim()) { state.textContent = 'Type part of a command to search.'; return; }
  state.textContent = 'Searching…';
  try {
    const hits = await call<CommandHit[]>('GET', `/commands?${new URLSearchParams({ q, limit: '200' }).toString()}`);
    state.textContent = hits.length ? `${hits.length} command(s) hold “${q}”${hits.length === 200 ? ' (the newest 200)' : ''}.` : `No command holds “${q}”.`;
    if (!hits.length) return;
    clear(results, h('table', { class: 'grid', 'data-testid': 'commands-table' },
      h('thead', {}, h('tr', {}, ...['When', 'User', 'Where', 'Command', 'Rule', 'Action', 'Read from', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, ...hits.map((c) => h('tr', { 'data-action': c.action },
        h('td', {}, when(c.at)), h('td', {}, c.user), h('td', {}, `${c.login ?? '?'}@${c.target ?? '?'}`),
        h('td', {}, h('code', {}, c.command)),
        h('td', {}, c.rules.map((r) => `${r.rule} (+${r.score})`).join(', ') || '—'),
        h('td', {}, c.action === 'none' ? '—' : h('span', { class: `badge action-${c.action}` }, c.action)),
        h('td', { class: 'muted small' }, c.source),
        h('td', {}, may(P.logs) ? h('button', { onclick: () => void sessionLogs(c.session_id) }, 'Session logs') : null))))));
  } catch (e) {
    state.textContent = `Cannot search: ${errorText(e)}`;
    state.className = 'error';
  }
}
