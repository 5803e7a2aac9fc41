// The verification state of a session's recordings (issue 15): a badge that asks the API
// (`/sessions/ID/verification`) and says intact, interrupted (authentic up to a crash),
// unverifiable or altered, with the whole sentence on hover and, for one track, its own line.
import { call, type Verification } from './api';
import { errorText, h } from './ui';

const LABEL: Record<Verification['verdict'], string> = {
  intact: 'Verified: intact',
  interrupted: 'Verified: intact up to an interruption',
  purged: 'Purged (signed tombstone)',
  unverifiable: 'Not verifiable',
  altered: 'ALTERED',
};

/** A badge filled in when the verification arrives; `track` picks one track's line. */
export function verificationBadge(id: string, track?: number): HTMLElement {
  const badge = h('span', { class: 'badge verifying', 'data-testid': 'verification', 'data-verdict': 'pending', role: 'status' }, 'Verifying the recording…');
  void call<Verification>('GET', `/sessions/${encodeURIComponent(id)}/verification`).then((v) => {
    const t = track === undefined ? undefined : v.tracks.find((x) => x.track === track);
    const verdict = t?.verdict ?? v.verdict;
    badge.className = `badge verdict-${verdict}`;
    badge.dataset.verdict = verdict;
    badge.textContent = LABEL[verdict];
    badge.title = t?.summary ?? v.summary;
    badge.after(h('span', { class: 'muted verification-summary', 'data-testid': 'verification-summary' }, ` ${t?.summary ?? v.summary}`));
  }).catch((e) => {
    badge.className = 'badge verdict-unverifiable';
    badge.dataset.verdict = 'error';
    badge.textContent = `Cannot verify: ${errorText(e)}`;
  });
  return badge;
}
