//! Intentionally empty: the tests are in main.rs.
