// Who is signed in, and what the current page must close when the user leaves it.

import type { Me } from './api';

let me: Me | null = null;
let leave: (() => void) | null = null;

export function signedIn(): Me | null {
  return me;
}

export function setSignedIn(value: Me | null): void {
  me = value;
}

export function may(permission: string): boolean {
  return !!me && me.permissions.includes(permission);
}

export function onLeave(fn: () => void): void {
  leave = fn;
}

export function leavePage(): void {
  const fn = leave;
  leave = null;
  fn?.();
}
