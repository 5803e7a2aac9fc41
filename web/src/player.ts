// Session video: plays the recording (asciicast v3) in a terminal with play/pause, seek, speed,
// a list of its markers, and a download of the file itself. Every play and download is
// audited by the server.
//
// The recording is streamed, never loaded whole: the player reads the response as it plays
// and stops reading while it has enough ahead (the server then waits too), so a recording of
// a gigabyte plays in the memory of a few screens. A seek asks the server for the screen at
// that moment (it replays from its nearest keyframe) and streams on from there.

import { Terminal } from '@xterm/xterm';
import { call, type SessionDetail } from './api';
import { clear, duration, errorText, h } from './ui';
import { onLeave, stillShown } from './state';
import { trackFrom, trackPicker } from './tracks';
import { verificationBadge } from './verification';

interface Frame { t: number; kind: 'o' | 'r'; data: string }
interface Marker { at_ms: number; label: string }

/** Frames, and bytes of output, read ahead of the play position at most (the rest waits on
 * the server). */
const AHEAD = 4000;
const AHEAD_BYTES = 2 << 20;
/** Idle gaps longer than this are skipped when "Skip idle time" is on. */
const IDLE_CAP = 2000;

/** One streamed read of the recording from a moment on. */
class CastStream {
  frames: Frame[] = [];
  /** Characters of output in `frames`. */
  queued = 0;
  done = false;
  bytes = 0;
  from = 0;
  cols = 80;
  rows = 24;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  private decoder = new TextDecoder();
  private partial = '';
  private t = 0;
  private header = false;
  private reading: Promise<void> | null = null;

  constructor(private url: string, private onError: (text: string) => void) {}

  /** Opens the stream and reads until the header and the first screen are in. */
  async open(): Promise<void> {
    const res = await fetch(this.url, { credentials: 'same-origin' });
    if (!res.ok || !res.body) {
      const body = await res.json().catch(() => ({ error: res.statusText })) as { error?: string };
      throw new Error(body.error ?? String(res.status));
    }
    this.reader = res.body.getReader();
    while (!this.header && !this.done) await this.readChunk();
  }

  /** Reads ahead while fewer than AHEAD frames wait; one read at a time. */
  fill(): Promise<void> {
    if (this.done || this.full()) return Promise.resolve();
    this.reading ??= (async () => {
      try {
        while (!this.done && !this.full()) await this.readChunk();
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }

  /** Enough is read ahead. */
  full(): boolean {
    return this.frames.length >= AHEAD || this.queued >= AHEAD_BYTES;
  }

  /** The frames up to `t`, taken off the queue. */
  take(t: number): Frame[] {
    let i = 0;
    while (i < this.frames.length && this.frames[i].t <= t) this.queued -= this.frames[i++].data.length;
    return this.frames.splice(0, i);
  }

  cancel(): void {
    this.done = true;
    void this.reader?.cancel().catch(() => undefined);
  }

  private async readChunk(): Promise<void> {
    if (!this.reader) { this.done = true; return; }
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await this.reader.read();
    } catch (e) {
      if (!this.done) this.onError(`the recording stopped loading: ${errorText(e)}`);
      this.done = true;
      return;
    }
    if (chunk.done) {
      this.lines(this.partial + this.decoder.decode());
      this.partial = '';
      this.done = true;
      return;
    }
    this.bytes += chunk.value.length;
    const text = this.partial + this.decoder.decode(chunk.value, { stream: true });
    const cut = text.lastIndexOf('\n');
    this.partial = text.slice(cut + 1);
    this.lines(text.slice(0, cut + 1));
  }

  private lines(text: string): void {
    for (const line of text.split('\n')) {
      if (!line.trim() || line.startsWith('#')) continue;
      if (!this.header) {
        try {
          const head = JSON.parse(line) as { term?: { cols?: number; rows?: number }; vigil_from_ms?: number };
          this.cols = head.term?.cols ?? 80;
          this.rows = head.term?.rows ?? 24;
          this.from = head.vigil_from_ms ?? 0;
          this.t = this.from;
        } catch { /* a player shows what it can */ }
        this.header = true;
        continue;
      }
      let ev: [number, string, string];
      try { ev = JSON.parse(line) as [number, string, string]; } catch { continue; }
      this.t += ev[0] * 1000;
      if (ev[1] === 'o' || ev[1] === 'r') {
        this.frames.push({ t: this.t, kind: ev[1], data: ev[2] });
        this.queued += ev[2].length;
      }
    }
  }
}

export async function videoPage(main: HTMLElement, id: string, trackParam?: string): Promise<void> {
  const current = stillShown();
  const s = await call<SessionDetail>('GET', `/sessions/${id}`);
  if (!current()) return;
  const track = trackFrom(s, trackParam);
  const status = h('span', { class: 'status', 'data-testid': 'video-status', role: 'status' }, 'Loading the recording…');
  clear(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/sessions' }, 'Remote sessions'), ' › Session video'),
    h('h1', {}, `Session video: ${s.user_name} → ${s.login ?? '?'}@${s.target_name ?? '?'}`),
    h('p', { class: 'muted' }, `Session ${s.id} · ${new Date(s.started_at).toLocaleString()} · ${duration(s.duration_ms)} · ${s.end_reason ?? ''}`),
    h('p', { class: 'verification' }, verificationBadge(id, track === undefined ? 'recording' : { track })),
    status);
  const base = `/api/v1/sessions/${encodeURIComponent(id)}/recording`;
  const screen = h('div', { class: 'terminal', 'data-testid': 'video-terminal' });
  const term = new Terminal({ disableStdin: true, scrollback: 5000, fontSize: 14 });
  const play = h('button', { class: 'primary', 'data-testid': 'video-play' }, 'Play');
  const seek = h('input', { type: 'range', min: '0', step: '10', value: '0', 'data-testid': 'video-seek', 'aria-label': 'Position' });
  const clock = h('span', { class: 'clock', 'data-testid': 'video-clock' });
  const speed = h('select', { 'data-testid': 'video-speed', 'aria-label': 'Speed' }, ...[0.5, 1, 2, 4, 8].map((x) => h('option', { value: String(x), selected: x === 1 }, `${x}×`)));
  const idle = h('input', { type: 'checkbox', checked: true, 'data-testid': 'video-idle' });
  const file = track ? `${id}.${track}.cast` : `${id}.cast`;
  const download = h('a', { class: 'button', href: `${base}?purpose=download&track=${track}`, download: file, 'data-testid': 'video-download' }, 'Download recording');
  // Kept beside the download, the proof lets `vigil verify FILE` check it (issue 15).
  const proof = h('a', { class: 'button', href: `${base}/proof?track=${track}`, download: `${file}.vigil-proof`, 'data-testid': 'video-proof', title: 'Save it beside the recording: `vigil verify FILE` checks the recording against it' }, 'Download proof');
  const markerList = h('ol', { class: 'markers', 'data-testid': 'video-markers', 'aria-label': 'Markers' }, h('li', { class: 'muted' }, 'Loading the markers…'));
  main.append(
    h('div', { class: 'toolbar' }, trackPicker(s, track, 'video'), play, seek, clock, h('label', { class: 'inline' }, 'Speed ', speed), h('label', { class: 'inline' }, idle, ' Skip idle time (> 2 s)'), download, proof),
    h('div', { class: 'video' }, screen, h('aside', {}, h('h3', {}, 'Markers'), markerList)));
  term.open(screen);

  let stream: CastStream | null = null;
  let total = s.duration_ms;
  let now = 0; // ms from the start of the recording
  let playing = false;
  let last = 0;
  let loading = false;
  let failure = '';
  const fail = (text: string) => { failure = `Cannot play the recording: ${text}`; show(); };
  const ended = () => !!stream?.done && stream.frames.length === 0;
  const show = () => {
    seek.max = String(Math.ceil(total / 10) * 10);
    seek.value = String(ended() && !playing ? Number(seek.max) : Math.min(now, total));
    clock.textContent = `${duration(now)} / ${duration(total)}`;
    play.textContent = playing ? 'Pause' : ended() ? 'Replay' : 'Play';
    screen.dataset.state = playing ? 'playing' : ended() ? 'ended' : 'paused';
    screen.dataset.loaded = String(stream?.bytes ?? 0);
    status.textContent = failure || (loading ? 'Loading…' : '');
    status.className = failure ? 'error' : 'status';
  };
  /** Writes the frames up to `t`; returns false when it had to stop for frames not yet read. */
  const advanceTo = (t: number): boolean => {
    if (!stream) return false;
    let out = '';
    for (const f of stream.take(t)) {
      if (f.kind === 'o') out += f.data;
      else {
        if (out) { term.write(out); out = ''; }
        const [c, r] = f.data.split('x').map(Number);
        if (c > 0 && r > 0) term.resize(c, r);
      }
    }
    if (out) term.write(out);
    const q = stream.frames;
    if (!stream.full()) void stream.fill().then(show);
    if (q.length === 0 && !stream.done) { now = Math.max(now, Math.min(t, total)); return false; }
    now = t;
    if (stream.done && q.length === 0) total = Math.max(now, Math.min(total, now));
    return true;
  };
  /** Starts a stream at `t` and shows the screen of that moment. */
  const loadAt = async (t: number) => {
    stream?.cancel();
    failure = '';
    loading = true;
    show();
    const next = new CastStream(`${base}?purpose=play&track=${track}&from=${Math.max(0, Math.round(t))}`, fail);
    stream = next;
    try {
      await next.open();
    } catch (e) {
      if (stream === next) { loading = false; fail(errorText(e)); }
      return;
    }
    if (stream !== next) return; // a later seek won
    term.reset();
    term.resize(next.cols, next.rows);
    now = next.from;
    advanceTo(now);
    loading = false;
    void next.fill().then(show);
    show();
  };
  let seekTimer = 0;
  const seekTo = (t: number) => {
    window.clearTimeout(seekTimer);
    now = t;
    show();
    // While the slider is dragged, only the last position is fetched.
    seekTimer = window.setTimeout(() => void loadAt(t), 120);
  };

  let raf = 0;
  const tick = (ts: number) => {
    if (!playing) return;
    let dt = last ? (ts - last) * Number(speed.value) : 0;
    last = ts;
    const next = stream?.frames[0];
    if (idle.checked && next && next.t - now > IDLE_CAP) dt = Math.max(dt, next.t - now - IDLE_CAP);
    if (!loading) advanceTo(now + dt);
    if (ended()) playing = false;
    show();
    if (playing) raf = requestAnimationFrame(tick);
  };
  play.addEventListener('click', async () => {
    if (playing) { playing = false; show(); return; }
    if (ended()) await loadAt(0);
    playing = true;
    last = 0;
    raf = requestAnimationFrame(tick);
    show();
  });
  seek.addEventListener('input', () => { playing = false; seekTo(Number(seek.value)); });
  idle.addEventListener('change', show);

  call<Marker[]>('GET', `/sessions/${id}/recording/markers?track=${track}`).then((markers) => {
    clear(markerList, ...(markers.length ? markers.map((m) =>
      h('li', {}, h('button', { class: 'link', 'data-testid': 'video-marker', onclick: () => { playing = false; seekTo(m.at_ms); } },
        h('time', {}, duration(m.at_ms)), ' ', m.label.replace(/^command: /, '$ ')))) : [h('li', { class: 'muted' }, 'No marker in this recording.')]));
  }).catch((e) => clear(markerList, h('li', { class: 'error' }, `Cannot list the markers: ${errorText(e)}`)));

  onLeave(() => { playing = false; cancelAnimationFrame(raf); window.clearTimeout(seekTimer); stream?.cancel(); term.dispose(); });
  await loadAt(0);
}
