//! The machine as it is, read without changing it.
