// Short notices (errors, "link copied") in an aria-live region.
import { h } from '../dom.js';

export function toast(text, { kind = 'info', ms = 5000 } = {}) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const el = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : null }, text);
  box.appendChild(el);
  setTimeout(() => el.remove(), ms);
}
