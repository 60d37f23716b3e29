//! Reading `HYPERDJANGO_*` values: whole numbers, durations and booleans, each checked and
//! turned into an error that names the variable and the value. Nothing falls back to a
//! default silently: an unset or empty variable means "default", anything else must parse.

use std::time::Duration;

use crate::config::ConfigError;

/// The unit of a duration variable.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unit {
    Millis,
    Seconds,
}

/// Looks a variable up; empty (or all-space) values count as unset.
pub(crate) fn lookup(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Option<String> {
    env(var).filter(|v| !v.trim().is_empty())
}

fn invalid(var: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError::new(format!("{var}={value:?}: expected {expected}"))
}

/// A whole number in `0..=max`.
pub(crate) fn whole(var: &str, value: &str, max: u64, meaning: &str) -> Result<u64, ConfigError> {
    let expected = format!("a whole number from 0 to {max}{meaning}");
    match value.trim().parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(invalid(var, value, &expected)),
    }
}

/// A duration as a whole number of `unit`s; 0 is returned as `Duration::ZERO`.
pub(crate) fn duration(
    var: &str,
    value: &str,
    unit: Unit,
    meaning: &str,
) -> Result<Duration, ConfigError> {
    // A century is more than any sane timeout, and keeps `Instant + Duration` far from overflow.
    const CENTURY_S: u64 = 100 * 365 * 24 * 3600;
    let (max, name) = match unit {
        Unit::Millis => (CENTURY_S * 1000, "milliseconds"),
        Unit::Seconds => (CENTURY_S, "seconds"),
    };
    let n = whole(var, value, max, &format!(" ({name}{meaning})"))?;
    Ok(match unit {
        Unit::Millis => Duration::from_millis(n),
        Unit::Seconds => Duration::from_secs(n),
    })
}

/// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, in any case.
pub(crate) fn boolean(var: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            var,
            value,
            "true or false (also 1/0, yes/no, on/off)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers() {
        assert_eq!(whole("V", "12", 100, "").unwrap(), 12);
        assert_eq!(whole("V", " 7 ", 100, "").unwrap(), 7);
        for bad in [
            "abc",
            "-1",
            "1.5",
            "101",
            "1e3",
            "0x10",
            "99999999999999999999999",
        ] {
            let e = whole("V", bad, 100, "").unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("V={bad:?}: expected a whole number")),
                "{e}"
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(
            duration("V", "250", Unit::Millis, "").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            duration("V", "2", Unit::Seconds, "").unwrap(),
            Duration::from_secs(2)
        );
        let e = duration("V", "-5", Unit::Millis, ", 0 means no limit")
            .unwrap_err()
            .to_string();
        assert!(e.contains("(milliseconds, 0 means no limit)"), "{e}");
        assert!(duration("V", "99999999999999999", Unit::Seconds, "").is_err());
    }

    #[test]
    fn booleans() {
        for t in ["true", "TRUE", "1", "yes", "On"] {
            assert!(boolean("V", t).unwrap());
        }
        for f in ["false", "0", "no", "OFF"] {
            assert!(!boolean("V", f).unwrap());
        }
        let e = boolean("V", "maybe").unwrap_err().to_string();
        assert!(e.starts_with("V=\"maybe\": expected true or false"), "{e}");
    }

    #[test]
    fn empty_is_unset() {
        let env = |name: &str| match name {
            "EMPTY" => Some("  ".to_string()),
            "SET" => Some("x".to_string()),
            _ => None,
        };
        assert_eq!(lookup(&env, "EMPTY"), None);
        assert_eq!(lookup(&env, "SET").as_deref(), Some("x"));
        assert_eq!(lookup(&env, "MISSING"), None);
    }
}
