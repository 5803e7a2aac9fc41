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

/** The open dialogs, innermost last: keys go to the innermost one. */
const dialogs: HTMLElement[] = [];

/** A modal window; resolves when closed. `build` gets a close function. */
export function modal(title: string, build: (close: () => void) => Node[], testid = 'modal'): Promise<void> {
  return new Promise((resolve) => {
    // The WAI-ARIA dialog pattern: Escape closes, Tab stays inside, focus returns to what
    // opened the dialog.
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const close = () => {
      document.removeEventListener('keydown', keys, true);
      dialogs.splice(dialogs.indexOf(backdrop), 1);
      backdrop.remove();
      if (opener?.isConnected) opener.focus();
      resolve();
    };
    const keys = (e: KeyboardEvent) => {
      if (dialogs[dialogs.length - 1] !== backdrop) return; // a dialog above this one
      if (e.key === 'Escape') { e.preventDefault(); close(); return; }
      if (e.key !== 'Tab') return;
      const focusable = [...box.querySelectorAll<HTMLElement>('a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])')]
        .filter((el) => !el.hidden && el.offsetParent !== null);
      if (!focusable.length) { e.preventDefault(); return; }
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      const inside = box.contains(document.activeElement);
      if (e.shiftKey && (document.activeElement === first || !inside)) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && (document.activeElement === last || !inside)) { e.preventDefault(); first.focus(); }
    };
    const box = h('div', { class: 'modal', role: 'dialog', 'aria-modal': 'true', 'aria-label': title, 'data-testid': testid },
      h('header', {}, h('h2', {}, title), h('button', { class: 'icon', 'aria-label': 'Close', onclick: close }, '×')),
      ...build(close));
    const backdrop = h('div', { class: 'backdrop', onclick: (e: Event) => { if (e.target === backdrop) close(); } }, box);
    document.body.append(backdrop);
    dialogs.push(backdrop);
    document.addEventListener('keydown', keys, true);
    const first = box.querySelector<HTMLElement>('textarea, input, select, button.primary') ?? box.querySelector<HTMLElement>('button');
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

/** One menu item: its test id, its label, what it does. */
export type MenuItem = [string, string, () => void];

/** A menu under `anchor` (one at a time), closed by a click anywhere; `empty` is shown when
 * there is no item. `align` puts it under the anchor's left or right edge. */
export function popupMenu(anchor: HTMLElement, testid: string, items: MenuItem[], empty: string, align: 'left' | 'right'): void {
  document.querySelector('.menu')?.remove();
  const menu = h('div', { class: 'menu', role: 'menu', 'data-testid': testid },
    ...(items.length ? items.map(([id, label, run]) => h('button', { role: 'menuitem', 'data-testid': id, onclick: () => { menu.remove(); run(); } }, label))
      : [h('span', { class: 'muted' }, empty)]));
  const r = anchor.getBoundingClientRect();
  menu.style.top = `${r.bottom + window.scrollY + 4}px`;
  menu.style.left = align === 'right' ? `${Math.max(8, r.right + window.scrollX - 200)}px` : `${r.left + window.scrollX}px`;
  document.body.append(menu);
  setTimeout(() => document.addEventListener('click', () => menu.remove(), { once: true }));
}
