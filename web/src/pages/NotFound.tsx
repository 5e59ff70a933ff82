import { useTitle } from '../components/common';

export function NotFound() {
  useTitle('Not found');
  return (
    <section class="page narrow">
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. <a href="/">Go to the home page</a>.
      </p>
    </section>
  );
}
