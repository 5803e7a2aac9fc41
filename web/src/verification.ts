// The verification state of a session's evidence (issue 15): a badge that asks the API
// (`/sessions/ID/verification`) and says intact, interrupted (authentic up to a crash),
// purged, unverifiable or altered, with the whole sentence beside it. It speaks of the
// recording (or one track of it), of the session log, or of both together.
import { call, type Verification } from './api';
import { errorText, h } from './ui';

const LABEL: Record<Verification['verdict'], string> = {
  intact: 'Verified: intact',
  interrupted: 'Verified: intact up to an interruption',
  purged: 'Purged (signed tombstone)',
  unverifiable: 'Not verifiable',
  altered: 'ALTERED',
};

/** What a badge speaks of: a track, the whole recording, the session log, or everything. */
export type Part = { track: number } | 'recording' | 'log' | 'session';

function pick(v: Verification, part: Part): { verdict: Verification['verdict']; summary: string } {
  if (part === 'session') return v;
  if (part === 'recording') return v.recording;
  if (part === 'log') return v.log ?? { verdict: v.verdict, summary: v.summary };
  return v.tracks.find((x) => x.track === part.track) ?? v.recording;
}

/** Requests in flight per session: the badges of one page (a recording's and its log's)
 * share one request, and so do their repeats while the session runs. */
const inFlight = new Map<string, Promise<Verification>>();

function verificationOf(id: string): Promise<Verification> {
  let asked = inFlight.get(id);
  if (asked === undefined) {
    asked = call<Verification>('GET', `/sessions/${encodeURIComponent(id)}/verification`)
      .finally(() => inFlight.delete(id));
    inFlight.set(id, asked);
  }
  return asked;
}

/** How often a badge of a session still running asks again. */
const RUNNING_REFRESH_MS = 2000;

/** A badge filled in when the verification arrives. While the session runs (or is closing:
 * its seal may be on its way to the recording store) the badge asks again, so a page opened
 * just before the end does not keep saying "intact so far" after the seal landed. */
export function verificationBadge(id: string, part: Part = 'session'): HTMLElement {
  const testid = part === 'log' ? 'log-verification' : 'verification';
  const badge = h('span', { class: 'badge verifying', 'data-testid': testid, 'data-verdict': 'pending', role: 'status' },
    part === 'log' ? 'Verifying the session log…' : 'Verifying the recording…');
  const summary = h('span', { class: 'muted verification-summary', 'data-testid': `${testid}-summary` });
  const ask = (): void => {
    void verificationOf(id).then((v) => {
      const picked = pick(v, part);
      badge.className = `badge verdict-${picked.verdict}`;
      badge.dataset.verdict = picked.verdict;
      badge.textContent = LABEL[picked.verdict];
      badge.title = picked.summary;
      summary.textContent = ` ${picked.summary}`;
      if (summary.parentNode === null) badge.after(summary);
      if (v.running) setTimeout(() => { if (badge.isConnected) ask(); }, RUNNING_REFRESH_MS);
    }).catch((e) => {
      badge.className = 'badge verdict-unverifiable';
      badge.dataset.verdict = 'error';
      badge.textContent = `Cannot verify: ${errorText(e)}`;
    });
  };
  ask();
  return badge;
}
