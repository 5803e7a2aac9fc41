// The cluster's nodes: each one's state, where its peers reach it, its last heartbeat and its
// live sessions. The page refreshes itself while it is shown, so a node going down appears
// without a reload.

import { call, P } from './api';
import { may, onLeave, stillShown } from './state';
import { clear, confirm, errorText, h, notice, when } from './ui';

interface NodeRow { name: string; url: string; version: string; started_at: number; heartbeat_at: number; state: 'up' | 'down' | 'left'; live_sessions: number }
interface Nodes { this_node: string; nodes: NodeRow[] }

const REFRESH_MS = 5000;

const STATE_TEXT: Record<NodeRow['state'], string> = {
  up: 'Up',
  down: 'Down (stopped heartbeating; its sessions were closed as interrupted)',
  left: 'Left (shut down cleanly)',
};

export async function nodesPage(main: HTMLElement): Promise<void> {
  const shown = stillShown();
  let timer: number | undefined;
  onLeave(() => window.clearTimeout(timer));
  const load = async (): Promise<void> => {
    let data: Nodes;
    try {
      data = await call<Nodes>('GET', '/nodes');
    } catch (e) {
      if (!shown()) return;
      clear(main, h('h1', {}, 'Nodes'), h('p', { class: 'error', role: 'alert' }, errorText(e)));
      timer = window.setTimeout(() => void load(), REFRESH_MS);
      return;
    }
    if (!shown()) return;
    const rows = data.nodes.map((n) => h('tr', { 'data-node': n.name, 'data-state': n.state },
      h('td', { class: 'mono' }, n.name, n.name === data.this_node ? h('span', { class: 'muted small' }, ' (this node)') : null),
      h('td', {}, h('span', { class: `badge state-${n.state}`, 'data-testid': `node-state-${n.name}` }, STATE_TEXT[n.state])),
      h('td', { class: 'mono small' }, n.url),
      h('td', {}, n.version),
      h('td', {}, when(n.started_at)),
      h('td', {}, when(n.heartbeat_at)),
      h('td', { 'data-testid': `node-sessions-${n.name}` }, String(n.live_sessions)),
      h('td', {}, n.state !== 'up' && may(P.targets)
        ? h('button', { 'data-testid': `node-remove-${n.name}`, onclick: async () => {
          if (!(await confirm('Remove node', `Forget node ${n.name}? It joins again if it starts.`))) return;
          try { await call('DELETE', `/nodes/${encodeURIComponent(n.name)}`); notice(`Node ${n.name} removed.`); } catch (e) { notice(errorText(e), 'error'); }
          window.clearTimeout(timer);
          await load();
        } }, 'Remove')
        : null)));
    clear(main,
      h('h1', {}, 'Nodes'),
      h('p', { class: 'muted' }, `The gateways of this cluster, sharing one store. A node silent for the timeout is marked down by another and its sessions are closed as interrupted. Refreshed every ${REFRESH_MS / 1000} s.`),
      data.nodes.length
        ? h('table', { class: 'grid', 'data-testid': 'nodes-table' },
          h('thead', {}, h('tr', {}, ...['Node', 'State', 'Reached at', 'Version', 'Started', 'Last heartbeat', 'Live sessions', ''].map((c) => h('th', {}, c)))),
          h('tbody', {}, ...rows))
        : h('p', { 'data-testid': 'nodes-empty' }, 'No node has joined yet.'));
    timer = window.setTimeout(() => void load(), REFRESH_MS);
  };
  await load();
}
