//! Integration tests: one binary, every test against a real server on a random port,
//! on SQLite and on PostgreSQL.

mod helpers;

mod hardening;

mod accounts;
mod architecture;
mod bad_input;
mod browser;
mod browser_summary;
mod browser_support;
mod consent;
mod durability;
mod entries;
mod fuzz;
mod model;
mod openapi;
mod pairing;
mod privacy;
mod scale_out;
mod stream;
mod therapist;
mod two_worlds;
