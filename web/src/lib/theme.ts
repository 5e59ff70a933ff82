// Light and dark themes: the system's choice unless the person picked one, remembered locally.

export type Theme = 'light' | 'dark';
const KEY = 'ferrocast-theme';

export function storedTheme(): Theme | null {
  try {
    const t = localStorage.getItem(KEY);
    return t === 'light' || t === 'dark' ? t : null;
  } catch {
    return null;
  }
}

export function currentTheme(): Theme {
  return storedTheme() ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
}

export function setTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
  try {
    localStorage.setItem(KEY, theme);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
}

export function initTheme(): void {
  document.documentElement.dataset.theme = currentTheme();
  // Follow the system's setting as it changes, until the person picks a theme of their own.
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    if (!storedTheme()) document.documentElement.dataset.theme = currentTheme();
  });
}
