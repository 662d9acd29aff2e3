// Small view helpers shared by the panels.
import { h } from '../dom.js';

/** A stable colour class (c0..c7) for a user id. */
export function colorClass(id) {
  // FNV-1a over the whole id (snowflakes made close in time share most digits)
  let x = 0x811c9dc5;
  for (const ch of String(id || '')) x = Math.imul(x ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `c${(x >>> 5) % 8}`;
}

export function initials(name) {
  const s = (name || '?').trim();
  const parts = s.split(/\s+/).filter(Boolean);
  if (parts.length > 1) return (firstChar(parts[0]) + firstChar(parts[1])).toUpperCase();
  return firstChar(s).toUpperCase();
}

function firstChar(s) {
  return Array.from(s)[0] || '?';
}

export function avatar(userId, name, { status, size = 'md' } = {}) {
  return h('span', { class: `avatar avatar-${size} ${colorClass(userId)}`, 'aria-hidden': 'true' },
    initials(name),
    status ? h('span', { class: `status-dot status-${status}` }) : null);
}
