// Remote sessions (seed 000): filters, the table, and per row an Actions button with Live
// Stream, Terminate session, Session logs, Session video, Prevent purge and Configure auditors.
// An action is shown only to users who may use it.

import { verificationBadge } from './verification';
import { call, P, type Session, type SessionDetail, type SessionEvent } from './api';
import { bytes, clear, confirm, duration, errorText, h, modal, notice, popupMenu, type MenuItem, when } from './ui';
import { may, onLeave, stillShown } from './state';

const FILTERS = ['status', 'user', 'target', 'login', 'protocol', 'node', 'min_risk', 'from', 'to', 'q'] as const;
type Filters = Partial<Record<(typeof FILTERS)[number] | 'page', string>>;

function filtersFromHash(): Filters {
  const query = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const f: Filters = {};
  for (const k of [...FILTERS, 'page'] as const) {
    const v = query.get(k);
    if (v) f[k] = v;
  }
  return f;
}

function toQuery(f: Filters): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) {
    if (!v) continue;
    // Dates are typed as local date-times; the API takes Unix milliseconds.
    q.set(k, (k === 'from' || k === 'to') ? String(new Date(v).getTime()) : v);
  }
  return q.toString();
}

/** Users without the logs permission see only sessions assigned to them, and may view those. */
function canView(permission: string): boolean {
  return may(permission) || !may(P.logs);
}

export async function sessionsPage(main: HTMLElement): Promise<void> {
  const f = filtersFromHash();
  const input = (name: keyof Filters, label: string, attrs: Record<string, string> = {}) =>
    h('label', {}, label, h('input', { name, value: f[name] ?? '', 'data-testid': `filter-${name}`, ...attrs }));
  const status = h('select', { name: 'status', 'data-testid': 'filter-status' },
    ...[['', 'All'], ['active', 'Active'], ['finished', 'Finished']].map(([v, l]) => h('option', { value: v, selected: (f.status ?? '') === v }, l)));
  const protocol = h('select', { name: 'protocol', 'data-testid': 'filter-protocol' },
    ...[['', 'Any'], ['ssh', 'SSH'], ['endpoint', 'Endpoint (workstation agent)']].map(([v, l]) => h('option', { value: v, selected: (f.protocol ?? '') === v }, l)));
  const form = h('form', { class: 'filters', 'data-testid': 'filters', onsubmit: (e: Event) => {
    e.preventDefault();
    const data = new FormData(form);
    const next: Filters = {};
    for (const k of FILTERS) {
      const v = String(data.get(k) ?? '').trim();
      if (v) next[k] = v;
    }
    const q = new URLSearchParams(next as Record<string, string>).toString();
    location.hash = `#/sessions${q ? `?${q}` : ''}`;
  } },
  h('label', {}, 'Status', status),
  input('user', 'User'), input('target', 'Target'), input('login', 'Login'),
  h('label', {}, 'Protocol', protocol),
  input('node', 'Node'), input('min_risk', 'Minimum risk', { type: 'number', min: '0' }),
  input('from', 'From', { type: 'datetime-local' }), input('to', 'To', { type: 'datetime-local' }),
  input('q', 'Search', { type: 'search', placeholder: 'id, user, target, address' }),
  h('div', { class: 'buttons' },
    h('button', { class: 'primary', type: 'submit', 'data-testid': 'apply-filters' }, 'Filter'),
    h('button', { type: 'button', onclick: () => { location.hash = '#/sessions'; } }, 'Clear')));

  const body = h('tbody', {});
  const state = h('p', { class: 'muted', 'data-testid': 'sessions-state' }, 'Loading sessions…');
  const pager = h('div', { class: 'pager' });
  clear(main,
    h('p', { class: 'crumbs' }, 'PAM Core › Audit › Sessions › Remote sessions'),
    h('h1', {}, 'Remote sessions'),
    form,
    h('table', { class: 'grid', 'data-testid': 'sessions-table' },
      h('thead', {}, h('tr', {}, ...['Status', 'User', 'Target', 'Login', 'Client', 'Node', 'Started', 'Duration', 'Risk', 'Traffic', 'Action'].map((c) => h('th', {}, c)))),
      body),
    state, pager);

  const page = Number(f.page ?? '1');
  const load = async () => {
    try {
      const res = await call<{ sessions: Session[]; has_more: boolean }>('GET', `/sessions?${toQuery({ ...f, page: String(page) })}`);
      clear(body, ...res.sessions.map(row));
      state.textContent = res.sessions.length ? `${res.sessions.length} session(s) on this page · updated ${new Date().toLocaleTimeString()}` : 'No session matches these filters.';
      const go = (p: number) => {
        const q = new URLSearchParams({ ...(f as Record<string, string>), page: String(p) }).toString();
        location.hash = `#/sessions?${q}`;
      };
      clear(pager,
        page > 1 ? h('button', { onclick: () => go(page - 1) }, '‹ Previous') : null,
        h('span', {}, `Page ${page}`),
        res.has_more ? h('button', { onclick: () => go(page + 1) }, 'Next ›') : null);
    } catch (e) {
      state.textContent = `Cannot load sessions: ${errorText(e)}`;
      state.className = 'error';
    }
  };
  const current = stillShown();
  await load();
  if (!current()) return;
  // Active sessions change (duration, end): refresh while the page is open.
  const timer = setInterval(() => { if (!document.querySelector('.backdrop, .menu')) void load(); }, 5000);
  onLeave(() => clearInterval(timer));

  function row(s: Session): HTMLElement {
    return h('tr', { 'data-testid': `session-${s.id}`, 'data-user': s.user_name, 'data-status': s.active ? 'active' : 'finished' },
      h('td', {}, h('span', { class: `badge ${s.active ? 'live' : s.purged_at ? 'purged' : 'done'}` }, s.status === 'locked' ? 'Locked' : s.active ? 'Active' : s.purged_at ? 'Purged' : 'Finished'),
        s.prevent_purge_at ? h('span', { class: 'badge kept', title: 'Kept from the retention purge' }, 'Kept') : null),
      h('td', {}, s.user_name, s.unknown_user
        ? h('span', { class: 'badge flagged', 'data-testid': 'unknown-user', title: 'A workstation run whose user has no Vigil user of the same name: kept for review. Create the Vigil user, or find out who this is.' }, 'Unknown user')
        : null),
      h('td', {}, s.target_name ?? '—', s.protocol === 'endpoint' ? h('span', { class: 'muted' }, ' (workstation)') : null), h('td', {}, s.login ?? '—'),
      h('td', {}, s.client_addr), h('td', {}, s.node), h('td', {}, when(s.started_at)),
      h('td', {}, duration(s.duration_ms)), h('td', {}, String(s.risk)),
      h('td', { title: 'from operator / to operator' }, `${bytes(s.bytes_in)} / ${bytes(s.bytes_out)}`),
      h('td', {}, h('button', { class: 'actions', 'data-testid': 'actions', 'aria-haspopup': 'menu', onclick: (e: Event) => actionsMenu(e.currentTarget as HTMLElement, s, load) }, 'Actions ▾')));
  }
}

function actionsMenu(anchor: HTMLElement, s: Session, reload: () => Promise<void>): void {
  const items: MenuItem[] = [];
  if (s.active && canView(P.livestream)) items.push(['live', 'Live Stream', () => { location.hash = `#/sessions/${s.id}/live`; }]);
  if (s.active && may(P.terminate)) items.push(['terminate', 'Terminate session', () => void terminate(s.id, reload)]);
  if (!s.active && canView(P.logs)) items.push(['logs', 'Session logs', () => void sessionLogs(s.id)]);
  if (!s.active && canView(P.recording) && s.recording_key) items.push(['video', 'Session video', () => { location.hash = `#/sessions/${s.id}/video`; }]);
  if (may(P.preventPurge) && !s.purged_at) items.push(['prevent-purge', 'Prevent purge', () => void preventPurge(s.id, reload)]);
  if (may(P.auditors)) items.push(['auditors', 'Configure auditors', () => void configureAuditors(s.id)]);
  popupMenu(anchor, 'actions-menu', items.map(([id, label, run]) => [`action-${id}`, label, run]), 'No action available to you', 'right');
}

export async function terminate(id: string, after?: () => Promise<void>): Promise<boolean> {
  if (!(await confirm('Terminate session', 'End this session now? The operator will see "You have been disconnected".'))) return false;
  try {
    await call('POST', `/sessions/${id}/terminate`);
  } catch (e) {
    notice(`The session was not terminated: ${errorText(e)}`, 'error');
    return false;
  }
  await modal('Session interrupted', (close) => [
    h('p', { class: 'success', 'data-testid': 'terminate-success' }, 'The session was terminated. The operator was disconnected with the message "You have been disconnected".'),
    h('footer', {}, h('button', { class: 'primary', onclick: close }, 'OK')),
  ], 'terminated');
  await after?.();
  return true;
}

type Detail = Record<string, unknown>;
const str = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

/** What a session event says, as a sentence (the raw keys stay available in the title). */
const SENTENCES: Record<string, (d: Detail, e: SessionEvent) => string> = {
  authenticated: (d) => `Signed in to the gateway by ${str(d.method)} from ${str(d.client)}, asking for ${str(d.requested)}.`,
  connected: (d) => `The gateway logged in to ${str(d.target)} (${str(d.host)}:${str(d.port)}) as ${str(d.login)} with the vaulted credential.`,
  connect_failed: (d) => `The target ${str(d.target)} could not be reached or refused the credential: ${str(d.reason)}.`,
  host_key_mismatch: (d) => `${str(d.target)} presented another host key than the pinned one; nothing was sent: ${str(d.reason)}.`,
  channel_opened: (d) => `A ${str(d.kind)} channel opened${d.track !== null && d.track !== undefined ? `, recorded on track ${str(d.track)}` : ''}.`,
  channel_refused: (d) => `A ${str(d.kind)} request was refused: ${str(d.reason)}.`,
  forward_opened: (d) => `A port forward to ${str(d.to)} opened.`,
  transfer_opened: (d) => `A file transfer with ${str(d.tool)} opened (${str(d.direction)}).`,
  file_allowed: (d) => `${str(d.direction) === 'upload' ? 'Uploaded' : 'Downloaded'} ${str(d.path)} (${str(d.size)} bytes, SHA-256 ${str(d.sha256)}) with ${str(d.tool)}: every check allowed it${d.kept ? '; a copy is kept with the session' : ''}.`,
  file_refused: (d) => `The ${str(d.direction)} of ${str(d.path)} with ${str(d.tool)} was refused by ${str(d.plugin)}: ${str(d.reason)}. Nothing of it was delivered.`,
  file_undelivered: (d) => `${str(d.path)} was allowed but did not reach the far side: ${str(d.reason)}.`,
  sftp_operation: (d) => `SFTP ${str(d.op)} ${str(d.path)}${d.to ? ` → ${str(d.to)}` : ''}${d.error ? ` failed: ${str(d.error)}` : ''}.`,
  endpoint_run: (d) => `${Array.isArray(d.argv) ? (d.argv as unknown[]).map(String).join(' ') : str(d.program)} ran on ${str(d.workstation)} as ${str(d.program)} in ${str(d.cwd)}${d.tty ? ` on ${str(d.tty)}` : ''} and ended with ${d.signal ? `signal ${str(d.signal)}` : `status ${str(d.exit)}`}; ${d.record ? 'recorded' : 'audited'} by ${Array.isArray(d.policies) ? (d.policies as unknown[]).map(String).join(', ') : '-'}${d.known_user === false ? '. No Vigil user has this name: kept, flagged for review' : ''}.`,
  endpoint_uploaded: (d) => `The ${str(d.object)} recording arrived whole (${str(d.size)} bytes, SHA-256 ${str(d.sha256)}).`,
  exit_status: (d) => `The target's command ended with ${d.signal ? `signal ${str(d.signal)}` : `status ${str(d.status)}`}.`,
  recording_failed: (d) => `The recording could not be written, so the session ended: ${str(d.error)}.`,
  live_view_started: (d, e) => `${e.actor ?? 'Someone'} started watching live from ${str(d.addr)}.`,
  live_view_ended: (d, e) => `${e.actor ?? 'A viewer'} stopped watching (${str(d.addr)}).`,
  terminate_requested: (d, e) => `${e.actor ?? 'Someone'} asked for the session to end (${str(d.via)}).`,
  locked: (_d, e) => `${e.actor ?? 'Someone'} locked the operator's input.`,
  unlocked: (d, e) => `${e.actor ?? 'Someone'} unlocked the operator's input; ${str(d.input_dropped_bytes)} bytes typed meanwhile were dropped.`,
  ended: (d) => `The session ended: ${str(d.reason)}.`,
  elevation_supplied: (d) => `The gateway answered ${str(d.tool)}'s password prompt with the vaulted password (${str(d.mode)}) for ${str(d.command)}.`,
  elevation_not_answered: (d) => `${str(d.tool)}'s password prompt after ${str(d.command)} was not answered: ${str(d.reason)}.`,
  elevation_rejected: (d) => `The target refused the vaulted ${str(d.tool)} password after ${str(d.command)}; the invocation was stopped${d.blocked ? ' and answering is now blocked for this login' : ''}.`,
  elevation_answering_off: (d) => `sudo is no longer answered in this session: ${str(d.reason)}.`,
  command_detected: (d) => {
    const action = str(d.action);
    const rules = Array.isArray(d.rules) ? (d.rules as Detail[]).map((r) => `${str(r.rule)} (+${str(r.score)})`).join(', ') : '';
    const verdict = action === 'none' ? 'ran' : action === 'alert' ? 'ran and raised an alert' : action === 'prohibit' ? 'was refused' : action === 'interrupt' ? 'ended the session' : 'ended the session and disabled the account';
    return `Command ${str(d.command)} ${verdict}${rules ? ` (rule ${rules})` : ''}; read from ${str(d.source)}.`;
  },
};

export function describe(e: SessionEvent): string {
  let d: Detail;
  try { d = JSON.parse(e.detail) as Detail; } catch { return e.detail; }
  const say = SENTENCES[e.kind];
  if (say) return say(d, e);
  return Object.entries(d).map(([k, v]) => `${k.replace(/_/g, ' ')}: ${str(v)}`).join(' · ');
}

interface CommandEvent { at: number; command: string; rules: { rule: string; score: number }[]; score: number; action: string; source: string }

function commandsOf(events: SessionEvent[]): CommandEvent[] {
  return events.filter((e) => e.kind === 'command_detected').map((e) => {
    const d = JSON.parse(e.detail) as Omit<CommandEvent, 'at'>;
    return { ...d, rules: Array.isArray(d.rules) ? d.rules : [], at: e.at };
  });
}

/** The commands of a session: time, command, rule, score, action. */
export function commandsTable(events: SessionEvent[], testid = 'session-commands'): HTMLElement {
  const commands = commandsOf(events);
  if (!commands.length) return h('p', { class: 'muted', 'data-testid': testid }, 'No command was detected in this session.');
  return h('table', { class: 'grid compact', 'data-testid': testid },
    h('thead', {}, h('tr', {}, ...['Time', 'Command', 'Rule', 'Score', 'Action'].map((c) => h('th', {}, c)))),
    h('tbody', {}, ...commands.map((c) => h('tr', { 'data-action': c.action },
      h('td', {}, new Date(c.at).toLocaleTimeString()),
      h('td', {}, h('code', {}, c.command), h('span', { class: 'muted small' }, ` ${c.source}`)),
      h('td', {}, c.rules.map((r) => r.rule).join(', ') || '—'),
      h('td', {}, c.score ? `+${c.score}` : '—'),
      h('td', {}, c.action === 'none' ? '—' : h('span', { class: `badge action-${c.action}` }, c.action))))));
}

/** A download link for a transferred file kept with the session (audited by the server). */
function keptFileLink(id: string, e: SessionEvent): HTMLElement | null {
  if (e.kind !== 'file_allowed') return null;
  let d: Detail;
  try { d = JSON.parse(e.detail) as Detail; } catch { return null; }
  if (!d.kept) return null;
  const name = str(d.path).split('/').pop() || 'file';
  return h('a', { class: 'button small', href: `/api/v1/sessions/${encodeURIComponent(id)}/files/${e.id}`, download: name, 'data-testid': 'kept-file' }, `Download ${name}`);
}

export async function sessionLogs(id: string): Promise<void> {
  let events: SessionEvent[] = [];
  let detail: SessionDetail | null = null;
  try {
    [events, detail] = await Promise.all([
      call<SessionEvent[]>('GET', `/sessions/${id}/events`),
      call<SessionDetail>('GET', `/sessions/${id}`),
    ]);
  } catch (e) {
    notice(`Cannot open the session log: ${errorText(e)}`, 'error');
    return;
  }
  const d = detail;
  await modal('Session logs', (close) => [
    h('dl', { class: 'facts' },
      h('dt', {}, 'Session'), h('dd', {}, id),
      h('dt', {}, 'Operator'), h('dd', {}, `${d.user_name} from ${d.client_addr}`),
      h('dt', {}, 'Target'), h('dd', {}, `${d.login ?? '?'}@${d.target_name ?? '?'} (${d.protocol}, node ${d.node})`),
      h('dt', {}, 'Ended'), h('dd', {}, d.end_reason ? `${when(d.ended_at)} — ${d.end_reason}` : 'still active'),
      h('dt', {}, 'Risk'), h('dd', { 'data-testid': 'log-risk' }, String(d.risk)),
      h('dt', {}, 'Recording'), h('dd', {}, d.recording_key ? verificationBadge(id, 'recording') : 'none'),
      h('dt', {}, 'Session log'), h('dd', {}, verificationBadge(id, 'log'))),
    h('h3', {}, 'Commands'),
    commandsTable(events),
    h('h3', {}, 'Events'),
    h('ol', { class: 'timeline', 'data-testid': 'session-log' },
      ...events.map((e) => h('li', { 'data-kind': e.kind },
        h('time', {}, new Date(e.at).toLocaleTimeString()), ' ',
        h('strong', {}, e.kind.replace(/_/g, ' ')),
        e.actor ? h('span', { class: 'actor' }, ` by ${e.actor}`) : null,
        h('div', { class: 'muted', title: e.detail }, describe(e)),
        keptFileLink(id, e)))),
    h('footer', {}, h('button', { class: 'primary', onclick: close }, 'Close')),
  ], 'logs');
}

async function preventPurge(id: string, reload: () => Promise<void>): Promise<void> {
  const detail = await call<SessionDetail>('GET', `/sessions/${id}`).catch(() => null);
  const reason = h('textarea', { required: true, rows: 4, 'data-testid': 'purge-reason', placeholder: 'Why must this session be kept? (for example: incident 2026-114, legal hold)' });
  const error = h('p', { class: 'error', role: 'alert' });
  await modal('Prevent session purge', (close) => [
    detail?.prevent_purge ? h('p', { class: 'muted', 'data-testid': 'purge-current' }, `Kept since ${when(detail.prevent_purge.at)} by ${detail.prevent_purge.by}: ${detail.prevent_purge.reason}`) : null,
    h('label', {}, 'Justification', reason),
    error,
    h('footer', {},
      detail?.prevent_purge ? h('button', { onclick: async () => {
        try { await call('DELETE', `/sessions/${id}/prevent-purge`); close(); notice('The retention purge may take this session again.'); await reload(); }
        catch (e) { error.textContent = errorText(e); }
      } }, 'Allow purge') : null,
      h('button', { onclick: close }, 'Cancel'),
      h('button', { class: 'primary', 'data-testid': 'purge-submit', onclick: async () => {
        if (!reason.value.trim()) { error.textContent = 'The justification is required.'; reason.focus(); return; }
        try { await call('PUT', `/sessions/${id}/prevent-purge`, { reason: reason.value }); close(); notice('This session will be kept from the retention purge.'); await reload(); }
        catch (e) { error.textContent = errorText(e); }
      } }, 'Prevent purge')),
  ].filter((n): n is HTMLElement => !!n), 'prevent-purge');
}

async function configureAuditors(id: string): Promise<void> {
  let data: { auditors: string[]; candidates: string[] };
  try {
    data = await call('GET', `/sessions/${id}/auditors`);
  } catch (e) {
    notice(`Cannot load the auditors: ${errorText(e)}`, 'error');
    return;
  }
  const chosen = new Set(data.auditors);
  const list = h('ul', { class: 'chips', 'data-testid': 'auditor-list' });
  const picker = h('select', { 'data-testid': 'auditor-select', hidden: true });
  const error = h('p', { class: 'error', role: 'alert' });
  const draw = () => {
    clear(list, ...[...chosen].sort().map((u) => h('li', {}, u, h('button', { class: 'icon', 'aria-label': `Remove ${u}`, onclick: () => { chosen.delete(u); draw(); } }, '×'))));
    if (!chosen.size) list.append(h('li', { class: 'muted' }, 'No auditor assigned'));
    clear(picker, h('option', { value: '' }, 'Choose a user…'), ...data.candidates.filter((u) => !chosen.has(u)).map((u) => h('option', { value: u }, u)));
  };
  picker.addEventListener('change', () => { if (picker.value) { chosen.add(picker.value); picker.hidden = true; draw(); } });
  draw();
  await modal('Session auditors configuration', (close) => [
    h('p', { class: 'muted' }, 'Auditors may watch this session live, read its log and play its video.'),
    list,
    h('div', { class: 'row' }, h('button', { 'data-testid': 'auditor-add', onclick: () => { picker.hidden = false; picker.focus(); } }, 'Add'), picker),
    error,
    h('footer', {},
      h('button', { onclick: close }, 'Cancel'),
      h('button', { class: 'primary', 'data-testid': 'auditor-save', onclick: async () => {
        try { await call('PUT', `/sessions/${id}/auditors`, { users: [...chosen] }); close(); notice('Auditors saved.'); }
        catch (e) { error.textContent = errorText(e); }
      } }, 'Save')),
  ], 'auditors');
}
