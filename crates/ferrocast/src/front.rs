//! The service every HTTP connection is handed: live HLS media (`/hls/{stream}/...`) goes
//! straight to its handler, everything else to the API's router with the peer's address
//! (`ConnectInfo`) as the router's handlers expect it.
//!
//! Media playlists and parts are what viewers ask for most (an LL-HLS player reloads the
//! playlist and fetches a part about three times a second), and the router's path and query
//! extractors with the CORS layer cost about twice the rest of such a request's work in user
//! space (docs/BENCHMARKS.md, "HLS media answered before the router").

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{Method, header};
use axum::response::Response;
use axum::routing::future::RouteFuture;
use axum::serve::{IncomingStream, Listener};
use futures_util::future::{BoxFuture, Either};
use tower_service::Service;

use crate::cors::SimpleCors;
use crate::live;
use crate::state::AppState;

/// Makes a [`Connection`] for each accepted connection.
#[derive(Clone)]
pub struct Front {
    state: AppState,
    router: Router,
    cors: Arc<SimpleCors>,
}

impl Front {
    pub fn new(state: AppState) -> Self {
        Self {
            router: crate::app(state.clone()),
            cors: Arc::new(SimpleCors::new(&state.config)),
            state,
        }
    }
}

impl<L> Service<IncomingStream<'_, L>> for Front
where
    L: Listener<Addr = SocketAddr>,
{
    type Response = Connection;
    type Error = Infallible;
    type Future = Ready<Result<Connection, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'_, L>) -> Self::Future {
        ready(Ok(Connection {
            front: self.clone(),
            peer: *stream.remote_addr(),
        }))
    }
}

/// One connection's service.
#[derive(Clone)]
pub struct Connection {
    front: Front,
    peer: SocketAddr,
}

impl Service<Request> for Connection {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<BoxFuture<'static, Result<Response, Infallible>>, RouteFuture<Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // Preflights go to the router, whose CORS layer answers them.
        let media =
            request.method() != Method::OPTIONS && live::http::is_media_path(request.uri().path());
        if media {
            let state = self.front.state.clone();
            let cors = self.front.cors.clone();
            return Either::Left(Box::pin(async move {
                let origin = request.headers().get(header::ORIGIN).cloned();
                let mut response = if matches!(*request.method(), Method::GET | Method::HEAD) {
                    live::http::answer(state, request).await
                } else {
                    live::http::method_not_allowed()
                };
                cors.apply(origin.as_ref(), response.headers_mut());
                Ok(response)
            }));
        }
        request.extensions_mut().insert(ConnectInfo(self.peer));
        Either::Right(self.front.router.call(request))
    }
}
