//! The gateway over HTTP and WebSocket, against the whole system.

mod accounts;
mod cluster;
mod errors;
mod fanout;
mod health;
mod helpers;
mod limits;
mod messages;
mod openapi;
mod people;
mod presence;
mod privacy;
mod push;
mod reports;
mod security;
mod sessions;
mod websocket;
mod ws_helpers;
