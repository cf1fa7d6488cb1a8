//! HTTP session tests.
