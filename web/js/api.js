// The REST API v10 (docs/protocol.md), same origin.
export const API_BASE = '/api/v10';

export class ApiError extends Error {
  constructor(status, body, { retryAfter = null, network = false } = {}) {
    super(describe(status, body, network));
    this.status = status;
    this.body = body;
    this.code = body && typeof body.code === 'number' ? body.code : 0;
    this.retryAfter = retryAfter; // seconds, for 429
    this.network = network;
  }
}

// The first field error of a 50035 reply, else the message.
function describe(status, body, network) {
  if (network) return 'Cannot reach the server. Check your connection.';
  if (body && body.errors && typeof body.errors === 'object') {
    for (const [field, v] of Object.entries(body.errors)) {
      const e = v && v._errors && v._errors[0];
      if (e && e.message) return field && field !== '_errors' ? `${label(field)}: ${e.message}` : e.message;
    }
  }
  if (body && typeof body.message === 'string' && body.message) return body.message;
  if (status === 429) return 'You are being rate limited.';
  return `Request failed (HTTP ${status}).`;
}

function label(field) {
  const f = field.replace(/_/g, ' ');
  return f.charAt(0).toUpperCase() + f.slice(1);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * An API client. getToken() is read on every call; onUnauthorized() is
 * called on a 401 to an authenticated route (the token stopped working).
 */
export function createApi({ getToken, onUnauthorized = () => {} }) {
  async function request(method, path, body, { auth = true, retries = method === 'GET' ? 2 : 0 } = {}) {
    const headers = {};
    const token = auth ? getToken() : null;
    if (token) headers.Authorization = token;
    let payload;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(API_BASE + path, { method, headers, body: payload, cache: 'no-store' });
    } catch {
      throw new ApiError(0, null, { network: true });
    }
    let data = null;
    const text = await res.text().catch(() => '');
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (res.ok) return data;
    let retryAfter = null;
    if (res.status === 429) {
      const h = Number(res.headers.get('Retry-After'));
      retryAfter = Number.isFinite(h) && h >= 0 ? h : Number(data && data.retry_after) || 1;
      // Reads wait it out themselves; writes are retried by their caller.
      if (retries > 0) {
        await sleep(retryAfter * 1000 + 50);
        return request(method, path, body, { auth, retries: retries - 1 });
      }
    }
    if (res.status === 401 && token) onUnauthorized();
    throw new ApiError(res.status, data, { retryAfter });
  }
  return {
    request,
    get: (p, o) => request('GET', p, undefined, o),
    post: (p, b = {}, o) => request('POST', p, b, o),
    patch: (p, b, o) => request('PATCH', p, b, o),
    put: (p, b = {}, o) => request('PUT', p, b, o),
    del: (p, o) => request('DELETE', p, undefined, o),
  };
}
