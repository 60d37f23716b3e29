//! cancel_safety
