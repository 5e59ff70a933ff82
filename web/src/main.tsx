import { render } from 'preact';
import { ErrorBoundary, LocationProvider, Route, Router, lazy } from 'preact-iso';
import { Layout } from './components/Layout';
import { Home } from './pages/Home';
import { NotFound } from './pages/NotFound';
import { loadSession } from './lib/session';
import { initTheme } from './lib/theme';
import './styles.css';

// Pages with a player or an upload client are loaded when first opened, so the home page stays
// within its JavaScript budget.
const Live = lazy(() => import('./pages/Live').then((m) => m.Live));
const Watch = lazy(() => import('./pages/Watch').then((m) => m.Watch));
const Upload = lazy(() => import('./pages/Upload').then((m) => m.Upload));
const SignIn = lazy(() => import('./pages/SignIn').then((m) => m.SignIn));
const Register = lazy(() => import('./pages/Register').then((m) => m.Register));
const Studio = lazy(() => import('./pages/Studio').then((m) => m.Studio));
const Channel = lazy(() => import('./pages/Channel').then((m) => m.Channel));
const Admin = lazy(() => import('./pages/Admin').then((m) => m.Admin));

function App() {
  return (
    <LocationProvider>
      <Layout>
        <ErrorBoundary>
          <Router>
            <Route path="/" component={Home} />
            <Route path="/live/:id" component={Live} />
            <Route path="/videos/:id" component={Watch} />
            <Route path="/upload" component={Upload} />
            <Route path="/signin" component={SignIn} />
            <Route path="/register" component={Register} />
            <Route path="/studio" component={Studio} />
            <Route path="/studio/:section" component={Studio} />
            <Route path="/channel/:id" component={Channel} />
            <Route path="/admin" component={Admin} />
            <Route default component={NotFound} />
          </Router>
        </ErrorBoundary>
      </Layout>
    </LocationProvider>
  );
}

initTheme();
void loadSession();
render(<App />, document.getElementById('app') as HTMLElement);
