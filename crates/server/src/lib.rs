//! Strix HTTP server.
