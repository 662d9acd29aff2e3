// Light markdown for messages: **bold**, *italic* / _italic_, __underline__,
// ~~strike~~, `inline code`, ```code blocks```, and http(s) links.
//
// parse() builds a small tree of plain objects; render() turns it into DOM
// nodes with createElement/textContent only: user text never reaches an
// HTML parser (no innerHTML anywhere in the client).

const URL_RE = /https?:\/\/[^\s<>"'`]+/y;
// Characters a link does not end with (sentence punctuation, closing bracket).
const TRAILING = /[.,:;!?'")\]}*_~]+$/;

/** A safe http(s) URL for an href, or null. */
export function safeUrl(raw) {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return u.href;
  } catch {
    return null;
  }
}

function pushText(out, s) {
  if (!s) return;
  const last = out[out.length - 1];
  if (last && last.type === 'text') last.text += s;
  else out.push({ type: 'text', text: s });
}

const PAIRS = [
  ['**', 'strong'],
  ['__', 'u'],
  ['~~', 's'],
  ['*', 'em'],
  ['_', 'em'],
];

function isWordChar(c) {
  return !!c && /[\p{L}\p{N}]/u.test(c);
}

/** Inline markdown (no code blocks) → nodes. */
export function parseInline(s, depth = 0) {
  const out = [];
  let i = 0;
  let text = '';
  const flush = () => {
    pushText(out, text);
    text = '';
  };
  while (i < s.length) {
    const c = s[i];
    // backslash escapes a markdown character
    if (c === '\\' && i + 1 < s.length && /[\\*_~`|]/.test(s[i + 1])) {
      text += s[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      let ticks = 1;
      while (s[i + ticks] === '`') ticks++;
      const fence = '`'.repeat(ticks);
      const end = s.indexOf(fence, i + ticks);
      if (end > i + ticks) {
        flush();
        let code = s.slice(i + ticks, end);
        if (ticks > 1 && code.startsWith(' ') && code.endsWith(' ') && code.trim()) code = code.slice(1, -1);
        out.push({ type: 'code', text: code });
        i = end + ticks;
        continue;
      }
      text += fence;
      i += ticks;
      continue;
    }
    if (c === 'h' && (s.startsWith('http://', i) || s.startsWith('https://', i)) && !isWordChar(s[i - 1])) {
      URL_RE.lastIndex = i;
      const m = URL_RE.exec(s);
      if (m) {
        let raw = m[0];
        const trail = raw.match(TRAILING);
        if (trail) raw = raw.slice(0, raw.length - trail[0].length);
        // keep balanced parentheses (https://en.wikipedia.org/wiki/Foo_(bar))
        if (trail && trail[0].startsWith(')') && raw.split('(').length > raw.split(')').length) raw += ')';
        const href = safeUrl(raw);
        if (href && raw.length > 'https://'.length - 1) {
          flush();
          out.push({ type: 'link', href, text: raw });
          i += raw.length;
          continue;
        }
      }
    }
    if (depth < 8) {
      let matched = false;
      for (const [d, type] of PAIRS) {
        if (!s.startsWith(d, i)) continue;
        const start = i + d.length;
        if (start >= s.length || /\s/.test(s[start])) continue;
        // "_" only at word boundaries (snake_case stays as it is)
        if (d === '_' && isWordChar(s[i - 1])) continue;
        if (d.length === 1 && s[start] === d) continue;
        let end = start;
        for (;;) {
          end = s.indexOf(d, end + 1);
          if (end < 0) break;
          if (/\s/.test(s[end - 1])) continue;
          // "*" must not be the start of "**" closing a bold around us
          if (d === '*' && s[end + 1] === '*' && s[end - 1] !== '*') {
            end++;
            continue;
          }
          if (d === '_' && isWordChar(s[end + 1])) continue;
          // "***" closing "**": the last two close it, the first belongs inside
          if (d.length === 2) while (s[end + 2] === d[0]) end++;
          break;
        }
        if (end < 0) continue;
        flush();
        out.push({ type, children: parseInline(s.slice(start, end), depth + 1) });
        i = end + d.length;
        matched = true;
        break;
      }
      if (matched) continue;
    }
    text += c;
    i++;
  }
  flush();
  return out;
}

/** A whole message → nodes; ``` fences make code blocks. */
export function parse(src) {
  const out = [];
  let i = 0;
  while (i < src.length) {
    const start = src.indexOf('```', i);
    if (start < 0) break;
    const end = src.indexOf('```', start + 3);
    if (end < 0) break;
    let body = src.slice(start + 3, end);
    let lang = '';
    const nl = body.indexOf('\n');
    if (nl >= 0 && /^[A-Za-z0-9_+.#-]{1,20}$/.test(body.slice(0, nl).trim())) {
      lang = body.slice(0, nl).trim();
      body = body.slice(nl + 1);
    } else if (nl === 0) {
      body = body.slice(1);
    }
    if (body.endsWith('\n')) body = body.slice(0, -1);
    if (!body.trim()) {
      // "``````" is not a block: leave it as inline text
      out.push(...parseInline(src.slice(i, end + 3)));
      i = end + 3;
      continue;
    }
    out.push(...parseInline(src.slice(i, start)));
    out.push({ type: 'codeblock', lang, text: body });
    i = end + 3;
    // the newline right after a closing fence belongs to the block
    if (src[i] === '\n') i++;
  }
  out.push(...parseInline(src.slice(i)));
  return out;
}

const TAGS = { strong: 'strong', em: 'em', u: 'u', s: 's' };

function renderNodes(nodes, parent) {
  for (const n of nodes) {
    if (n.type === 'text') {
      parent.appendChild(document.createTextNode(n.text));
    } else if (n.type === 'code') {
      const el = document.createElement('code');
      el.className = 'md-code';
      el.textContent = n.text;
      parent.appendChild(el);
    } else if (n.type === 'codeblock') {
      const pre = document.createElement('pre');
      pre.className = 'md-codeblock';
      const code = document.createElement('code');
      if (n.lang) code.dataset.lang = n.lang;
      code.textContent = n.text;
      pre.appendChild(code);
      parent.appendChild(pre);
    } else if (n.type === 'link') {
      const a = document.createElement('a');
      a.href = n.href;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      a.textContent = n.text;
      parent.appendChild(a);
    } else if (TAGS[n.type]) {
      const el = document.createElement(TAGS[n.type]);
      renderNodes(n.children, el);
      parent.appendChild(el);
    }
  }
}

/** Message content → DocumentFragment (text nodes and a few safe elements). */
export function render(src) {
  const frag = document.createDocumentFragment();
  renderNodes(parse(src), frag);
  return frag;
}
