// A session records each of its channels on its own track: a second terminal opened over a
// multiplexed connection, or a command run beside the shell. The video and the live stream
// show one track at a time; this picker switches between them (shown only when there are two
// or more).

import type { SessionDetail, Track } from './api';
import { h } from './ui';

export function trackLabel(t: Track): string {
  const what = t.kind === 'exec' ? 'command' : 'terminal';
  const runs = t.command ? `: ${t.command.length > 60 ? `${t.command.slice(0, 57)}…` : t.command}` : t.kind === 'terminal' ? ' (shell)' : '';
  return `Channel ${t.track + 1}, ${what}${runs}`;
}

/** The track in the page's address (`#/sessions/ID/video/N`), 0 when absent or unknown. */
export function trackFrom(s: SessionDetail, raw: string | undefined): number {
  const n = Number(raw ?? 0);
  return s.tracks.some((t) => t.track === n) ? n : 0;
}

export function trackPicker(s: SessionDetail, current: number, page: 'video' | 'live'): HTMLElement | null {
  if (s.tracks.length < 2) return null;
  const select = h('select', { 'data-testid': `${page}-track`, 'aria-label': 'Recorded channel' },
    ...s.tracks.map((t) => h('option', { value: String(t.track), selected: t.track === current }, trackLabel(t))));
  select.addEventListener('change', () => { location.hash = `#/sessions/${encodeURIComponent(s.id)}/${page}/${select.value}`; });
  return h('label', { class: 'inline' }, select);
}
