// Session video: plays the recording (asciicast v3) in a terminal with play/pause, seek, speed,
// and a download of the file itself. Every play and download is audited by the server.

import { Terminal } from '@xterm/xterm';
import { call, type SessionDetail } from './api';
import { clear, duration, h } from './ui';
import { onLeave } from './state';
import { trackFrom, trackPicker } from './tracks';

interface Frame { t: number; kind: 'o' | 'r'; data: string }
interface Marker { t: number; label: string }

/** Output and resize events with absolute times in ms, and the markers (commands, notices,
 * locks); idle gaps capped at `idleCap` ms. */
export function parseCast(text: string, idleCap: number): { cols: number; rows: number; frames: Frame[]; markers: Marker[] } {
  const lines = text.split('\n').filter((l) => l.trim());
  const header = JSON.parse(lines[0] ?? '{}') as { term?: { cols?: number; rows?: number } };
  const frames: Frame[] = [];
  const markers: Marker[] = [];
  let t = 0;
  for (const line of lines.slice(1)) {
    let ev: [number, string, string];
    try { ev = JSON.parse(line) as [number, string, string]; } catch { continue; }
    t += Math.min(ev[0] * 1000, idleCap);
    if (ev[1] === 'o' || ev[1] === 'r') frames.push({ t, kind: ev[1], data: ev[2] });
    else if (ev[1] === 'm') markers.push({ t, label: ev[2] });
  }
  return { cols: header.term?.cols ?? 80, rows: header.term?.rows ?? 24, frames, markers };
}

export async function videoPage(main: HTMLElement, id: string, trackParam?: string): Promise<void> {
  const s = await call<SessionDetail>('GET', `/sessions/${id}`);
  const track = trackFrom(s, trackParam);
  const status = h('span', { class: 'status', 'data-testid': 'video-status' }, 'Loading the recording…');
  clear(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/sessions' }, 'Remote sessions'), ' › Session video'),
    h('h1', {}, `Session video: ${s.user_name} → ${s.login ?? '?'}@${s.target_name ?? '?'}`),
    h('p', { class: 'muted' }, `Session ${s.id} · ${new Date(s.started_at).toLocaleString()} · ${duration(s.duration_ms)} · ${s.end_reason ?? ''}`),
    status);
  const res = await fetch(`/api/v1/sessions/${encodeURIComponent(id)}/recording?purpose=play&track=${track}`, { credentials: 'same-origin' });
  if (!res.ok) {
    const body = await res.json().catch(() => ({ error: res.statusText })) as { error?: string };
    status.textContent = `Cannot play the recording: ${body.error ?? res.status}`;
    status.className = 'error';
    return;
  }
  const text = await res.text();
  let cap = 2000;
  let cast = parseCast(text, cap);
  const screen = h('div', { class: 'terminal', 'data-testid': 'video-terminal' });
  const term = new Terminal({ disableStdin: true, scrollback: 5000, fontSize: 14 });
  const play = h('button', { class: 'primary', 'data-testid': 'video-play' }, 'Play');
  const seek = h('input', { type: 'range', min: '0', step: '10', value: '0', 'data-testid': 'video-seek', 'aria-label': 'Position' });
  const clock = h('span', { class: 'clock', 'data-testid': 'video-clock' });
  const speed = h('select', { 'data-testid': 'video-speed', 'aria-label': 'Speed' }, ...[0.5, 1, 2, 4, 8].map((x) => h('option', { value: String(x), selected: x === 1 }, `${x}×`)));
  const idle = h('input', { type: 'checkbox', checked: true, 'data-testid': 'video-idle' });
  const download = h('a', { class: 'button', href: `/api/v1/sessions/${encodeURIComponent(id)}/recording?purpose=download&track=${track}`, download: track ? `${id}.${track}.cast` : `${id}.cast`, 'data-testid': 'video-download' }, 'Download recording');
  const markerList = h('ol', { class: 'markers', 'data-testid': 'video-markers', 'aria-label': 'Markers' });
  main.append(
    h('div', { class: 'toolbar' }, trackPicker(s, track, 'video'), play, seek, clock, h('label', { class: 'inline' }, 'Speed ', speed), h('label', { class: 'inline' }, idle, ' Compress idle time (> 2 s)'), download),
    h('div', { class: 'video' }, screen, h('aside', {}, h('h3', {}, 'Markers'), markerList)));
  status.remove();
  term.open(screen);
  term.resize(cast.cols, cast.rows);

  let now = 0; // virtual ms
  let next = 0; // index of the next frame to show
  let playing = false;
  let last = 0;
  const total = () => cast.frames.at(-1)?.t ?? 0;
  const show = () => {
    // The slider moves in steps of 10 ms: its end is rounded up so that it reaches the
    // last frame (a short recording of 99 ms would otherwise stop at 90).
    seek.max = String(Math.ceil(total() / 10) * 10);
    seek.value = String(now >= total() ? Number(seek.max) : now);
    clock.textContent = `${duration(now)} / ${duration(total())}`;
    play.textContent = playing ? 'Pause' : now >= total() ? 'Replay' : 'Play';
    screen.dataset.state = playing ? 'playing' : now >= total() ? 'ended' : 'paused';
  };
  const advanceTo = (t: number) => {
    let out = '';
    while (next < cast.frames.length && cast.frames[next].t <= t) {
      const f = cast.frames[next++];
      if (f.kind === 'o') out += f.data;
      else {
        if (out) { term.write(out); out = ''; }
        const [c, r] = f.data.split('x').map(Number);
        if (c > 0 && r > 0) term.resize(c, r);
      }
    }
    if (out) term.write(out);
    now = t;
  };
  const seekTo = (t: number) => {
    const target = Math.max(0, Math.min(t, total()));
    // Forward: go on from here. Back: the screen is rebuilt from the start.
    if (target < now || next === 0) {
      term.reset();
      term.resize(cast.cols, cast.rows);
      next = 0;
    }
    advanceTo(target);
    show();
  };
  const drawMarkers = () => clear(markerList, ...(cast.markers.length ? cast.markers.map((m) =>
    h('li', {}, h('button', { class: 'link', 'data-testid': 'video-marker', onclick: () => { playing = false; seekTo(m.t); } },
      h('time', {}, duration(m.t)), ' ', m.label.replace(/^command: /, '$ ')))) : [h('li', { class: 'muted' }, 'No marker in this recording.')]));
  drawMarkers();
  let raf = 0;
  const tick = (ts: number) => {
    if (!playing) return;
    const dt = last ? (ts - last) * Number(speed.value) : 0;
    last = ts;
    advanceTo(now + dt);
    if (now >= total()) playing = false;
    show();
    if (playing) raf = requestAnimationFrame(tick);
  };
  play.addEventListener('click', () => {
    if (playing) { playing = false; show(); return; }
    if (now >= total()) seekTo(0);
    playing = true;
    last = 0;
    raf = requestAnimationFrame(tick);
    show();
  });
  seek.addEventListener('input', () => seekTo(Number(seek.value)));
  idle.addEventListener('change', () => {
    const fraction = total() ? now / total() : 0;
    cap = idle.checked ? 2000 : Number.MAX_SAFE_INTEGER;
    cast = parseCast(text, cap);
    next = 0;
    seekTo(fraction * total());
    drawMarkers();
  });
  show();
  onLeave(() => { playing = false; cancelAnimationFrame(raf); term.dispose(); });
}
