// Live Stream: the session's terminal in real time, read-only. The server sends the current
// screen first (so a late viewer sees it at once), then live output. The operator is not told;
// the viewing is in the session log.

import { Terminal } from '@xterm/xterm';
import { call, P, type SessionDetail, type SessionEvent } from './api';
import { clear, errorText, h, notice } from './ui';
import { may, onLeave, stillShown } from './state';
import { commandsTable, terminate } from './sessions';
import { trackFrom, trackPicker } from './tracks';

export async function livePage(main: HTMLElement, id: string, trackParam?: string): Promise<void> {
  const current = stillShown();
  const s = await call<SessionDetail>('GET', `/sessions/${id}`);
  if (!current()) return;
  const track = trackFrom(s, trackParam);
  const status = h('p', { class: 'status', 'data-testid': 'live-status', role: 'status' }, 'Connecting to the live stream…');
  const lockState = h('span', { class: 'badge', 'data-testid': 'lock-state' });
  let locked = s.status === 'locked';
  const lockButton = h('button', { 'data-testid': 'live-lock' });
  const drawLock = () => {
    lockState.textContent = locked ? 'Operator input locked' : 'Operator input flows';
    lockState.className = `badge ${locked ? 'live' : 'done'}`;
    lockButton.textContent = locked ? 'Unlock' : 'Lock';
    lockState.dataset.locked = String(locked);
  };
  lockButton.addEventListener('click', async () => {
    lockButton.setAttribute('disabled', '');
    try {
      await call('POST', `/sessions/${id}/${locked ? 'unlock' : 'lock'}`);
      locked = !locked;
      notice(locked ? 'The operator\'s input is locked; they were told by whom.' : 'The operator\'s input flows again.');
    } catch (e) {
      notice(errorText(e), 'error');
    } finally {
      lockButton.removeAttribute('disabled');
      drawLock();
    }
  });
  drawLock();
  const screen = h('div', { class: 'terminal', 'data-testid': 'live-terminal' });
  const commands = h('div', { 'data-testid': 'live-commands-box' });
  clear(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/sessions' }, 'Remote sessions'), ' › Live Stream'),
    h('h1', {}, `Live: ${s.user_name} → ${s.login ?? '?'}@${s.target_name ?? '?'}`),
    h('p', { class: 'muted' }, `Session ${s.id} · from ${s.client_addr} · node ${s.node}`),
    h('div', { class: 'toolbar' },
      trackPicker(s, track, 'live'),
      status,
      may(P.lock) ? lockState : null,
      may(P.lock) ? lockButton : null,
      may(P.terminate) ? h('button', { class: 'danger', 'data-testid': 'live-terminate', onclick: () => void terminate(id) }, 'Terminate session') : null),
    h('div', { class: 'video' }, screen, h('aside', { class: 'live-side' },
      h('p', {}, 'Risk ', h('strong', { 'data-testid': 'live-risk' }, String(s.risk))),
      h('h3', {}, 'Commands'), commands)));

  // The lock state, the risk and the commands change while the session runs, whoever
  // changed them: they are read again every two seconds.
  const refresh = async () => {
    try {
      const now = await call<SessionDetail>('GET', `/sessions/${id}`);
      if (!lockButton.hasAttribute('disabled')) { locked = now.status === 'locked'; drawLock(); }
      (main.querySelector('[data-testid=live-risk]') as HTMLElement).textContent = String(now.risk);
      const events = await call<SessionEvent[]>('GET', `/sessions/${id}/events`);
      clear(commands, commandsTable(events, 'live-commands'));
    } catch { /* the stream's own status says when the session is gone */ }
  };
  await refresh();
  if (!current()) return;
  const poll = setInterval(() => void refresh(), 2000);
  onLeave(() => clearInterval(poll));

  const term = new Terminal({ disableStdin: true, cursorBlink: false, convertEol: false, scrollback: 5000, fontSize: 14 });
  term.open(screen);
  let ended = false;
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${proto}://${location.host}/api/v1/sessions/${encodeURIComponent(id)}/live?track=${track}`);
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (m: MessageEvent) => {
    if (typeof m.data !== 'string') {
      term.write(new Uint8Array(m.data as ArrayBuffer));
      return;
    }
    const f = JSON.parse(m.data) as { type: string; cols?: number; rows?: number; screen?: string };
    if (f.type === 'init' || f.type === 'reset') {
      term.reset();
      term.resize(f.cols ?? 80, f.rows ?? 24);
      term.write(f.screen ?? '');
      status.textContent = `Watching live (${f.cols}×${f.rows}). The operator is not notified.`;
      status.dataset.state = 'live';
    } else if (f.type === 'resize') {
      term.resize(f.cols ?? 80, f.rows ?? 24);
    } else if (f.type === 'end') {
      ended = true;
      status.textContent = 'The session has ended.';
      status.dataset.state = 'ended';
    }
  };
  ws.onclose = () => {
    if (ended) return;
    status.dataset.state = 'closed';
    clear(status, 'The live stream closed. ', h('a', { href: `#/sessions/${id}/live`, onclick: () => location.reload() }, 'Reconnect'));
  };
  ws.onerror = () => {
    status.textContent = `Cannot open the live stream: ${errorText('the server refused it (the session may have ended)')}`;
  };
  onLeave(() => {
    ws.close();
    term.dispose();
  });
}
