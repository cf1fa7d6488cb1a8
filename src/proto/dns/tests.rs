//! DNS session tests.
