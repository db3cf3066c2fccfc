//! The gateway over HTTP and WebSocket, against the whole system.

mod health;
