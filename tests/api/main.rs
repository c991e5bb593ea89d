//! Black-box tests of the HTTP API against a real server on a random port, with a fresh database per test:
//! a temporary SQLite file, or a new PostgreSQL database when TEST_DATABASE_URL points at a server.

mod access;
mod api_keys;
mod assets;
mod auth;
mod cli;
mod crash;
mod demo;
mod errors;
mod experiments;
mod hardening;
mod health;
mod helpers;
mod ingest;
mod openapi;
mod pages;
mod playbook;
mod results;
mod roles;
mod stats;
