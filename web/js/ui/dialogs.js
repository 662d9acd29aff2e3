// Modal dialogs on <dialog>: focus stays inside, Escape cancels.
import { h, icon, ICONS } from '../dom.js';

/**
 * Open a dialog. build(api) returns the body nodes; api.close(value)
 * resolves the returned promise (undefined on Escape / Cancel).
 * onSubmit(form, api) handles the form: return a value to close with it,
 * or throw an Error whose message is shown in the dialog.
 */
export function openDialog({ title, build, submitLabel = 'OK', cancelLabel = 'Cancel', danger = false, onSubmit, className = '' }) {
  return new Promise((resolve) => {
    const errorBox = h('p', { class: 'form-error', role: 'alert', hidden: true });
    let settled = false;
    const dlg = h('dialog', { class: `dialog ${className}`, 'aria-labelledby': 'dlg-title' });
    const api = {
      close(value) {
        if (settled) return;
        settled = true;
        dlg.close();
        dlg.remove();
        resolve(value);
      },
      error(msg) {
        errorBox.textContent = msg;
        errorBox.hidden = !msg;
      },
      dialog: dlg,
    };
    const submit = h('button', { type: 'submit', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}` }, submitLabel);
    const form = h(
      'form',
      { method: 'dialog', novalidate: true },
      h('header', { class: 'dialog-head' },
        h('h2', { id: 'dlg-title' }, title),
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onclick: () => api.close(undefined) }, icon(ICONS.close))),
      h('div', { class: 'dialog-body' }, build ? build(api) : null, errorBox),
      h('footer', { class: 'dialog-foot' },
        cancelLabel ? h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => api.close(undefined) }, cancelLabel) : null,
        submitLabel ? submit : null),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!onSubmit) return api.close(true);
      submit.disabled = true;
      api.error('');
      try {
        const v = await onSubmit(form, api);
        if (v !== undefined) api.close(v);
      } catch (e) {
        api.error(e.message || String(e));
      } finally {
        submit.disabled = false;
      }
    });
    dlg.addEventListener('cancel', (ev) => {
      ev.preventDefault();
      api.close(undefined);
    });
    dlg.appendChild(form);
    document.body.appendChild(dlg);
    dlg.showModal();
    const first = dlg.querySelector('[autofocus], input, textarea, select');
    if (first) first.focus();
  });
}

export function confirmDialog({ title, text, confirmLabel = 'Confirm', danger = true }) {
  return openDialog({
    title,
    build: () => h('p', null, text),
    submitLabel: confirmLabel,
    danger,
  }).then((v) => v === true);
}

/** One text field; onSubmit(value) may throw to show an error. */
export function promptDialog({ title, label, value = '', placeholder = '', submitLabel = 'Save', maxLength, help, onSubmit }) {
  let input;
  return openDialog({
    title,
    submitLabel,
    build: () => {
      input = h('input', { type: 'text', value, placeholder, maxlength: maxLength, autofocus: true, 'aria-describedby': help ? 'dlg-help' : null, autocomplete: 'off' });
      return [h('label', { class: 'field' }, h('span', null, label), input), help ? h('p', { class: 'muted', id: 'dlg-help' }, help) : null];
    },
    onSubmit: async () => {
      const v = input.value.trim();
      if (!v) throw new Error(`${label} is required.`);
      return onSubmit ? ((await onSubmit(v)) ?? v) : v;
    },
  });
}
