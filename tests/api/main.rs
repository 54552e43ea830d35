//! Integration tests: one binary, every test against a real server on a random port,
//! on SQLite and on PostgreSQL.

mod helpers;

mod accounts;
mod consent;
mod entries;
mod pairing;
