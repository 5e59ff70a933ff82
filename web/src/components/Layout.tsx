import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { canStream, isAdmin, signOut, useSession } from '../lib/session';
import { currentTheme, setTheme, type Theme } from '../lib/theme';

export function Layout({ children }: { children: ComponentChildren }) {
  const { user, loaded } = useSession();
  const { route, path } = useLocation();
  const [theme, setThemeState] = useState<Theme>(() => currentTheme());

  const toggleTheme = () => {
    const next: Theme = theme === 'dark' ? 'light' : 'dark';
    setTheme(next);
    setThemeState(next);
  };

  const link = (href: string, label: string) => (
    <a href={href} aria-current={path === href ? 'page' : undefined}>
      {label}
    </a>
  );

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="site-header">
        <a class="brand" href="/" aria-label="Ferrocast home">
          <svg viewBox="0 0 32 32" width="28" height="28" aria-hidden="true">
            <rect width="32" height="32" rx="7" fill="var(--accent)" />
            <path d="M12 9v14l11-7z" fill="#fff" />
          </svg>
          <span>Ferrocast</span>
        </a>
        <nav class="site-nav" aria-label="Main">
          {link('/', 'Home')}
          {user && link('/upload', 'Upload')}
          {canStream(user) && link('/studio', 'Studio')}
          {isAdmin(user) && link('/admin', 'Admin')}
        </nav>
        <div class="site-account">
          <button
            type="button"
            class="icon-button"
            onClick={toggleTheme}
            aria-label={theme === 'dark' ? 'Use light theme' : 'Use dark theme'}
            title={theme === 'dark' ? 'Light theme' : 'Dark theme'}
          >
            {theme === 'dark' ? '☀' : '☾'}
          </button>
          {loaded && user ? (
            <>
              <a href={`/channel/${encodeURIComponent(user.id)}`} class="account-name">
                {user.username}
              </a>
              <button
                type="button"
                class="button subtle"
                onClick={async () => {
                  await signOut();
                  route('/');
                }}
              >
                Sign out
              </button>
            </>
          ) : loaded ? (
            <>
              <a class="button subtle" href="/signin">
                Sign in
              </a>
              <a class="button" href="/register">
                Register
              </a>
            </>
          ) : null}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
