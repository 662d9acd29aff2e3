// Invite links: https://host/invite/CODE, or the bare code.
export function inviteCode(text) {
  const t = String(text || '').trim();
  const m = t.match(/\/invite\/([^/?#\s]+)/);
  return m ? decodeURIComponent(m[1]) : t.replace(/^\/+|\/+$/g, '');
}

export function isInviteCode(code) {
  return /^[A-Za-z0-9_-]{1,64}$/.test(code);
}

export function inviteUrl(code, origin = window.location.origin) {
  return `${origin}/invite/${encodeURIComponent(code)}`;
}
