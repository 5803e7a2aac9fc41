// GO Endpoint Manager: the Linux access policies ("binary run": which programs the
// workstations' agents audit and record, for whom), the workstations (enrol with a one-time
// token, approve, remove). A policy change reaches the agents the next time they fetch
// (within seconds); recordings arrive in Remote Sessions as protocol `endpoint`.

import { call } from './api';
import { clear, confirm, errorText, h, modal, notice, popupMenu, type MenuItem, when } from './ui';

interface AgentPolicy {
  name: string; enabled: boolean; path: string; symlink: boolean; audit: boolean; record: boolean;
  subject: { kind: 'user' | 'group'; name: string }; workstation: string | null;
}
interface PolicyRow { id: string; policy: AgentPolicy; updated_at: number }
interface Workstation {
  id: string; host_name: string; machine_id: string; fingerprint: string; status: 'pending' | 'approved';
  enrolled_at: number; approved_at: number | null; approved_by: string | null; last_seen_at: number | null;
}

/** Which entry point opened the form: any rule, one workstation's, one user's. */
type Entry = 'rule' | 'workstation' | 'user';

const TITLES: Record<Entry, string> = {
  rule: 'New rule',
  workstation: 'New rule for workstation',
  user: 'New rule for user',
};

function policyForm(entry: Entry, done: () => Promise<void>): Promise<void> {
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'policy-error' });
  const field = (label: string, name: string, attrs: Record<string, string | boolean> = {}) =>
    h('label', {}, label, h('input', { name, 'data-testid': `policy-${name}`, ...attrs }));
  const yesNo = (label: string, name: string, yes: boolean, attrs: Record<string, string | boolean> = {}) =>
    h('label', {}, label, h('select', { name, 'data-testid': `policy-${name}`, ...attrs },
      h('option', { value: 'yes', selected: yes }, 'Yes'), h('option', { value: 'no', selected: !yes }, 'No')));
  const subjectKind = h('select', { name: 'subject_kind', 'data-testid': 'policy-subject_kind', disabled: entry === 'user' },
    h('option', { value: 'user', selected: entry === 'user' }, 'User'),
    h('option', { value: 'group', selected: entry !== 'user' }, 'Group (the user\'s primary group)'));
  return modal(TITLES[entry], (close) => {
    const form = h('form', { class: 'stack', onsubmit: async (e: Event) => {
      e.preventDefault();
      const d = new FormData(form);
      const body = {
        name: String(d.get('name') ?? '').trim(),
        enabled: d.get('enabled') === 'on',
        path: String(d.get('path') ?? '').trim(),
        symlink: d.get('symlink') === 'yes',
        audit: d.get('audit') === 'yes',
        record: d.get('record') === 'yes' && d.get('permission') === 'allow',
        subject_kind: entry === 'user' ? 'user' : String(d.get('subject_kind')),
        subject_name: String(d.get('subject_name') ?? '').trim(),
        workstation: String(d.get('workstation') ?? '').trim() || null,
      };
      try {
        await call('POST', '/agent-policies', body);
        close();
        notice(`Policy ${body.name} saved; the agents apply it when they next fetch (within seconds).`);
        await done();
      } catch (err) {
        error.textContent = errorText(err);
      }
    } },
    h('fieldset', {}, h('legend', {}, 'Main'),
      field('Policy name', 'name', { required: true, maxlength: '200' }),
      h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'enabled', checked: true, 'data-testid': 'policy-enabled' }), ' Enabled: applied across devices'),
      h('label', {}, 'Guideline', h('select', { name: 'guideline', 'data-testid': 'policy-guideline' }, h('option', { value: 'binary-run' }, 'Binary run')))),
    h('fieldset', {}, h('legend', {}, 'Application'),
      yesNo('Enable audit? (required)', 'audit', true, { required: true }),
      yesNo('Enable session recording?', 'record', true),
      field('Application path (find it with: which PROGRAM)', 'path', { required: true, class: 'mono', placeholder: '/usr/bin/ping' }),
      yesNo('Is the path a symbolic link? (ls -la PATH)', 'symlink', false),
      h('label', {}, 'Permission', h('select', { name: 'permission', 'data-testid': 'policy-permission' },
        h('option', { value: 'allow' }, 'Allow recording the sessions'),
        h('option', { value: 'deny' }, 'Do not record (audit only)'))),
      h('label', {}, 'User or group', subjectKind),
      field(entry === 'user' ? 'User name' : 'User or group name', 'subject_name', { required: true, placeholder: entry === 'user' ? 'alice' : 'staff' }),
      entry === 'workstation'
        ? field('Workstation (host name)', 'workstation', { required: true, placeholder: 'ws01' })
        : field('Workstation (empty: every workstation)', 'workstation')),
    error,
    h('footer', {}, h('button', { type: 'button', onclick: close }, 'Cancel'), h('button', { class: 'primary', type: 'submit', 'data-testid': 'policy-submit' }, 'Save')));
    return [form];
  }, 'policy-form');
}

function tokenDialog(done: () => Promise<void>): Promise<void> {
  return modal('Enrol a workstation', (close) => {
    const out = h('div', { 'data-testid': 'token-result' });
    const error = h('p', { class: 'error', role: 'alert' });
    const make = h('button', { class: 'primary', 'data-testid': 'token-make', onclick: async () => {
      try {
        const t = await call<{ token: string; expires_at: number }>('POST', '/agents/tokens', { valid_hours: 24 });
        make.remove();
        clear(out,
          h('p', {}, 'One-time token (shown once; valid until ', when(t.expires_at), '):'),
          h('pre', { class: 'mono', 'data-testid': 'token-value' }, t.token),
          h('p', { class: 'muted' }, 'On the workstation, as root: ', h('code', {}, `vigil-agent enrol --server ${location.origin} --token TOKEN`), '. It appears below as pending; approve it to accept its recordings.'));
        await done();
      } catch (e) {
        error.textContent = errorText(e);
      }
    } }, 'Make a token');
    return [out, error, h('footer', {}, h('button', { type: 'button', onclick: close }, 'Close'), make)];
  }, 'token-dialog');
}

/** The ⁝ menu: the three ways to start a policy. */
function newPolicyMenu(anchor: HTMLElement, reload: () => Promise<void>): void {
  const items = (['rule', 'workstation', 'user'] as Entry[]).map((e): MenuItem => [`policy-new-${e}`, TITLES[e], () => void policyForm(e, reload)]);
  popupMenu(anchor, 'policy-menu-items', items, '', 'left');
}

export async function endpointPage(main: HTMLElement): Promise<void> {
  const [rows, workstations] = await Promise.all([
    call<PolicyRow[]>('GET', '/agent-policies'),
    call<Workstation[]>('GET', '/agents'),
  ]);
  const reload = () => endpointPage(main);
  const act = (label: string, run: () => Promise<unknown>, done: string, testid: string, cls = '') =>
    h('button', { class: cls, 'data-testid': testid, onclick: async () => {
      try { await run(); notice(done); await reload(); } catch (e) { notice(errorText(e), 'error'); }
    } }, label);
  const menu = h('button', { class: 'actions', 'data-testid': 'policy-menu', 'aria-haspopup': 'menu', 'aria-label': 'New policy',
    onclick: (e: Event) => newPolicyMenu(e.currentTarget as HTMLElement, reload) }, '⁝');
  clear(main,
    h('p', { class: 'crumbs' }, 'GO Endpoint Manager › Policies › Linux › Access Policies'),
    h('h1', {}, 'Access policies'),
    h('p', { class: 'muted' }, 'Which programs the workstations\' agents audit and record, and for whom: a user, or the users whose primary group is named (supplementary groups do not count). Root on a workstation can bypass an agent; a copy of a program is not covered (see docs/ENDPOINT.md).'),
    h('div', { class: 'toolbar' }, menu),
    rows.length ? h('table', { class: 'grid', 'data-testid': 'policies-table' },
      h('thead', {}, h('tr', {}, ...['Name', 'Application path', 'Audit', 'Recording', 'For', 'Workstation', 'State', 'Changed', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, ...rows.map(({ policy: p, updated_at }) => h('tr', { 'data-testid': `policy-${p.name}`, 'data-enabled': String(p.enabled) },
        h('td', {}, p.name),
        h('td', {}, h('code', {}, p.path), p.symlink ? h('span', { class: 'muted small' }, ' (symbolic link)') : null),
        h('td', {}, p.audit ? 'Yes' : 'No'),
        h('td', {}, p.record ? 'Yes' : 'No'),
        h('td', {}, `${p.subject.kind} ${p.subject.name}`),
        h('td', {}, p.workstation ?? 'every'),
        h('td', {}, p.enabled ? 'Enabled' : h('span', { class: 'badge purged' }, 'Disabled')),
        h('td', {}, when(updated_at)),
        h('td', { class: 'buttons' },
          act(p.enabled ? 'Disable' : 'Enable', () => call('PATCH', `/agent-policies/${encodeURIComponent(p.name)}`, { enabled: !p.enabled }), `Policy ${p.name} ${p.enabled ? 'disabled' : 'enabled'}.`, 'policy-toggle'),
          h('button', { class: 'danger', 'data-testid': 'policy-remove', onclick: async () => {
            if (!(await confirm('Remove policy', `Remove the policy ${p.name}? The agents remove its wrapper when they next fetch.`))) return;
            try { await call('DELETE', `/agent-policies/${encodeURIComponent(p.name)}`); notice(`Policy ${p.name} removed.`); await reload(); }
            catch (e) { notice(errorText(e), 'error'); }
          } }, 'Remove')))))) :
      h('p', { class: 'muted', 'data-testid': 'policies-empty' }, 'No access policy: no program is audited or recorded on the workstations.'),
    h('h2', {}, 'Workstations'),
    h('div', { class: 'toolbar' }, h('button', { 'data-testid': 'token-open', onclick: () => void tokenDialog(reload) }, 'Enrol a workstation')),
    workstations.length ? h('table', { class: 'grid', 'data-testid': 'workstations-table' },
      h('thead', {}, h('tr', {}, ...['Host', 'Status', 'Key', 'Enrolled', 'Approved', 'Last heard', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, ...workstations.map((w) => h('tr', { 'data-testid': `workstation-${w.host_name}`, 'data-status': w.status },
        h('td', {}, w.host_name),
        h('td', {}, w.status === 'approved' ? 'Approved' : h('span', { class: 'badge action-alert' }, 'Pending approval')),
        h('td', {}, h('code', { class: 'small' }, w.fingerprint)),
        h('td', {}, when(w.enrolled_at)),
        h('td', {}, w.approved_at ? `${when(w.approved_at)} by ${w.approved_by ?? '?'}` : '—'),
        h('td', {}, w.last_seen_at ? when(w.last_seen_at) : 'never'),
        h('td', { class: 'buttons' },
          w.status === 'pending' ? act('Approve', () => call('POST', `/agents/${encodeURIComponent(w.host_name)}/approve`), `Workstation ${w.host_name} approved: its recordings are accepted.`, 'workstation-approve', 'primary') : null,
          h('button', { class: 'danger', 'data-testid': 'workstation-remove', onclick: async () => {
            if (!(await confirm('Remove workstation', `Remove ${w.host_name}? Its agent can no longer sign in; its recordings stay.`))) return;
            try { await call('DELETE', `/agents/${encodeURIComponent(w.host_name)}`); notice(`Workstation ${w.host_name} removed.`); await reload(); }
            catch (e) { notice(errorText(e), 'error'); }
          } }, 'Remove')))))) :
      h('p', { class: 'muted', 'data-testid': 'workstations-empty' }, 'No workstation has enrolled yet.'));
}
