import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { ErrorNote, useTitle } from '../components/common';
import { api, ApiError } from '../lib/api';
import { signIn } from '../lib/session';

export function Register() {
  useTitle('Create an account');
  const { route } = useLocation();
  const [form, setForm] = useState({ username: '', email: '', password: '', role: 'viewer' });
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [k]: (e.target as HTMLInputElement).value });

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api('/api/auth/register', {
        method: 'POST',
        body: {
          username: form.username,
          password: form.password,
          role: form.role,
          ...(form.email ? { email: form.email } : {}),
        },
      });
      await signIn(form.username, form.password);
      route(form.role === 'streamer' ? '/studio' : '/');
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, String(err)));
    } finally {
      setBusy(false);
    }
  };

  const fieldError = (name: string) =>
    error?.fields[name] ? (
      <p class="error-note" id={`register-${name}-error`}>
        {error.fields[name]}
      </p>
    ) : null;

  return (
    <section class="page narrow">
      <h1>Create an account</h1>
      <form class="panel" onSubmit={submit} noValidate>
        <label for="register-username">Username</label>
        <input
          id="register-username"
          type="text"
          autocomplete="username"
          required
          minLength={3}
          maxLength={32}
          value={form.username}
          onInput={set('username')}
          aria-describedby="register-username-hint register-username-error"
          aria-invalid={!!error?.fields.username}
        />
        <p class="hint" id="register-username-hint">
          3 to 32 letters, digits, '_', '-' or '.'
        </p>
        {fieldError('username')}
        <label for="register-email">E-mail (optional)</label>
        <input
          id="register-email"
          type="email"
          autocomplete="email"
          value={form.email}
          onInput={set('email')}
          aria-describedby="register-email-error"
          aria-invalid={!!error?.fields.email}
        />
        {fieldError('email')}
        <label for="register-password">Password</label>
        <input
          id="register-password"
          type="password"
          autocomplete="new-password"
          required
          minLength={8}
          value={form.password}
          onInput={set('password')}
          aria-describedby="register-password-hint register-password-error"
          aria-invalid={!!error?.fields.password}
        />
        <p class="hint" id="register-password-hint">
          At least 8 characters.
        </p>
        {fieldError('password')}
        <fieldset class="plain">
          <legend>I want to</legend>
          <label class="inline">
            <input type="radio" name="role" value="viewer" checked={form.role === 'viewer'} onChange={set('role')} />
            Watch and chat
          </label>
          <label class="inline">
            <input
              type="radio"
              name="role"
              value="streamer"
              checked={form.role === 'streamer'}
              onChange={set('role')}
            />
            Stream too
          </label>
        </fieldset>
        {error && Object.keys(error.fields).length === 0 && <ErrorNote error={error} />}
        <div class="form-actions">
          <button type="submit" disabled={busy}>
            Create account
          </button>
          <span>
            Have an account? <a href="/signin">Sign in</a>
          </span>
        </div>
      </form>
    </section>
  );
}
