// Who is signed in, and what the current page must close when the user leaves it.

import type { Me } from './api';

let me: Me | null = null;
let leave: (() => void)[] = [];
/** Which page is shown: it changes each time the user leaves one. */
let shown = 0;

export function signedIn(): Me | null {
  return me;
}

export function setSignedIn(value: Me | null): void {
  me = value;
}

export function may(permission: string): boolean {
  return !!me && me.permissions.includes(permission);
}

/** Runs `fn` when the user leaves the current page (every function given, in order). */
export function onLeave(fn: () => void): void {
  leave.push(fn);
}

export function leavePage(): void {
  shown += 1;
  const fns = leave;
  leave = [];
  for (const fn of fns) fn();
}

/** A check that stays true while the page that asked is shown: a page that awaited must not
 * open a stream or a timer for a page the user already left. */
export function stillShown(): () => boolean {
  const mine = shown;
  return () => mine === shown;
}
