// Small DOM helpers: elements, dialogs, notices. Everything the user sees says what state it
// is in; nothing spins forever.

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | ((e: Event) => void) | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

export function clear(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  for (const c of children) if (c) el.append(typeof c === 'string' ? document.createTextNode(c) : c);
}

export function notice(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const n = h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': 'notice' }, text);
  document.body.append(n);
  setTimeout(() => n.remove(), 6000);
}

/** A modal window; resolves when closed. `build` gets a close function. */
export function modal(title: string, build: (close: () => void) => Node[], testid = 'modal'): Promise<void> {
  return new Promise((resolve) => {
    const close = () => {
      backdrop.remove();
      resolve();
    };
    const box = h('div', { class: 'modal', role: 'dialog', 'aria-modal': 'true', 'aria-label': title, 'data-testid': testid },
      h('header', {}, h('h2', {}, title), h('button', { class: 'icon', 'aria-label': 'Close', onclick: close }, '×')),
      ...build(close));
    const backdrop = h('div', { class: 'backdrop', onclick: (e: Event) => { if (e.target === backdrop) close(); } }, box);
    document.body.append(backdrop);
    const first = box.querySelector<HTMLElement>('textarea, input, select, button.primary');
    first?.focus();
  });
}

/** A yes/no question; resolves true on "Yes". */
export function confirm(title: string, question: string): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = false;
    void modal(title, (close) => [
      h('p', {}, question),
      h('footer', {},
        h('button', { onclick: close }, 'No'),
        h('button', { class: 'primary danger', 'data-testid': 'confirm-yes', onclick: () => { answer = true; close(); } }, 'Yes')),
    ], 'confirm').then(() => resolve(answer));
  });
}

export function when(ms: number | null): string {
  if (!ms) return '—';
  return new Date(ms).toLocaleString();
}

export function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  return hh ? `${hh}h ${mm}m ${ss}s` : mm ? `${mm}m ${ss}s` : `${ss}s`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
