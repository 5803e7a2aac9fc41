// The API client: cookies carry the session; state-changing requests carry the CSRF token
// returned at sign-in. Errors come back as ApiError with the server's message.

export interface Me {
  user: string;
  role: string;
  permissions: string[];
  csrf_token: string | null;
}

export interface Session {
  id: string;
  user_name: string;
  target_name: string | null;
  login: string | null;
  client_addr: string;
  node: string;
  protocol: string;
  status: string;
  started_at: number;
  ended_at: number | null;
  end_reason: string | null;
  bytes_in: number;
  bytes_out: number;
  recording_key: string | null;
  risk: number;
  prevent_purge_at: number | null;
  purged_at: number | null;
  /** A workstation run whose user has no Vigil user of the same name (kept, flagged). */
  unknown_user: boolean;
  duration_ms: number;
  active: boolean;
}

/** Whether a session's recordings are complete and unaltered (`vigil verify`). */
export interface Verification {
  session: string;
  /** The session has not ended: the verdict can still change (asked again while shown). */
  running: boolean;
  verdict: 'intact' | 'interrupted' | 'purged' | 'unverifiable' | 'altered';
  summary: string;
  /** The recording's alone, and the session log's (null once purged). */
  recording: { verdict: Verification['verdict']; summary: string };
  log: { verdict: Verification['verdict']; summary: string; events: number; sealed_events: number } | null;
  tracks: { track: number; verdict: Verification['verdict']; summary: string; links: number; sealed: boolean; verified_ms: number }[];
}

/** One recorded channel of a session: its own recording and live stream (`?track=N`). */
export interface Track {
  track: number;
  channel: number | null;
  kind: 'terminal' | 'exec' | null;
  command: string | null;
  opened_at: number;
}

export interface SessionDetail extends Session {
  prevent_purge: { reason: string; by: string; at: number } | null;
  auditors: string[];
  live_here: boolean;
  tracks: Track[];
}

export interface SessionEvent {
  id: number;
  at: number;
  kind: string;
  actor: string | null;
  detail: string;
}

export class ApiError extends Error {
  constructor(public status: number, message: string, public body: Record<string, unknown> = {}) {
    super(message);
  }
}

let csrf: string | null = null;

export function setCsrf(token: string | null): void {
  csrf = token;
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const text = await res.text();
  let data: Record<string, unknown> = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { error: text };
  }
  if (!res.ok) {
    throw new ApiError(res.status, String(data.error ?? `${res.status} ${res.statusText}`), data);
  }
  return data as T;
}

export const P = {
  livestream: 'PAM.SessionManagement.Livestream',
  recording: 'PAM.SessionManagement.Recording',
  logs: 'PAM.SessionManagement.Logs',
  terminate: 'PAM.SessionManagement.Terminate',
  lock: 'PAM.SessionManagement.Lock',
  preventPurge: 'PAM.SessionManagement.PreventPurge',
  auditors: 'PAM.SessionManagement.ConfigureAuditors',
  users: 'PAM.Administration.Users',
  targets: 'PAM.Administration.Targets',
  auditLog: 'PAM.Audit.AdministrationLog',
  rules: 'PAM.Administration.Rules',
  endpoints: 'GO.EndpointManager.Policies',
} as const;
