import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { ErrorNote, useTitle } from '../components/common';
import { signIn } from '../lib/session';

/** Where to go after signing in: a path of this app named in `?next=`, else home. */
export function nextPath(search: string): string {
  const next = new URLSearchParams(search).get('next') ?? '/';
  return next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export function SignIn() {
  useTitle('Sign in');
  const { route } = useLocation();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(username, password);
      route(nextPath(location.search));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="page narrow">
      <h1>Sign in</h1>
      <form class="panel" onSubmit={submit}>
        <label for="signin-username">Username</label>
        <input
          id="signin-username"
          type="text"
          autocomplete="username"
          required
          value={username}
          onInput={(e) => setUsername((e.target as HTMLInputElement).value)}
        />
        <p class="hint">Your username or e-mail address.</p>
        <label for="signin-password">Password</label>
        <input
          id="signin-password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
        />
        <ErrorNote error={error} />
        <div class="form-actions">
          <button type="submit" disabled={busy}>
            Sign in
          </button>
          <span>
            New here? <a href="/register">Create an account</a>
          </span>
        </div>
      </form>
    </section>
  );
}
