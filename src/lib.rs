//! hyperdjango
