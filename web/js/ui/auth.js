// Log in / register screen.
import { h, replace } from '../dom.js';

/**
 * mode: 'login' | 'register'. submit({mode, username, password}) resolves
 * on success or throws an Error to show. switchMode(mode) changes screens.
 */
export function renderAuth(root, { mode, note, submit, switchMode }) {
  const isLogin = mode === 'login';
  const error = h('p', { class: 'form-error', role: 'alert', id: 'auth-error', hidden: true });
  const username = h('input', {
    id: 'auth-username', name: 'username', type: 'text', required: true, autocomplete: 'username',
    minlength: 2, maxlength: 32, autocapitalize: 'none', spellcheck: 'false',
  });
  const password = h('input', {
    id: 'auth-password', name: 'password', type: 'password', required: true,
    autocomplete: isLogin ? 'current-password' : 'new-password', minlength: 8, maxlength: 256,
  });
  const button = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, isLogin ? 'Log in' : 'Create account');
  const form = h('form', { class: 'auth-form', novalidate: true, 'aria-describedby': 'auth-error' },
    h('label', { class: 'field', for: 'auth-username' }, h('span', null, 'Username')),
    username,
    h('label', { class: 'field', for: 'auth-password' }, h('span', null, 'Password')),
    password,
    isLogin ? null : h('p', { class: 'muted small' }, '2–32 characters for the name; at least 8 for the password.'),
    error,
    button,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const u = username.value.trim();
    const p = password.value;
    if (u.length < 2) return showError('Enter a username (2–32 characters).', username);
    if (p.length < 8) return showError('The password needs at least 8 characters.', password);
    button.disabled = true;
    button.textContent = isLogin ? 'Logging in…' : 'Creating account…';
    try {
      await submit({ mode, username: u, password: p });
    } catch (e) {
      showError(e.message || String(e));
      button.disabled = false;
      button.textContent = isLogin ? 'Log in' : 'Create account';
    }
  });
  function showError(msg, field) {
    error.textContent = msg;
    error.hidden = false;
    if (field) field.focus();
  }
  const other = h('a', {
    href: isLogin ? '/register' : '/login',
    onclick: (ev) => {
      ev.preventDefault();
      switchMode(isLogin ? 'register' : 'login');
    },
  }, isLogin ? 'Register' : 'Log in');
  replace(root,
    h('main', { class: 'auth-screen' },
      h('section', { class: 'auth-card', 'aria-labelledby': 'auth-title' },
        h('div', { class: 'brand' }, h('img', { src: '/favicon.svg', alt: '', width: 40, height: 40 }), h('span', null, 'Parley')),
        h('h1', { id: 'auth-title' }, isLogin ? 'Welcome back!' : 'Create an account'),
        note ? h('p', { class: 'auth-note' }, note) : null,
        form,
        h('p', { class: 'muted small' }, isLogin ? 'Need an account? ' : 'Already have an account? ', other),
      )));
  username.focus();
}
