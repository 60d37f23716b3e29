//! Fuzzes the libpq URL and key=value parser, and the checks of the result: arbitrary bytes must give a value or an error,
//! never a panic, a hang or an allocation far beyond the input's size.
#![no_main]
use hyperdjango_pgwire::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = Config::parse(text) {
        let _ = cfg.endpoints();
        let shown = format!("{cfg:?}");
        // The password is never shown.
        if let Some(pw) = cfg.get_password() {
            if pw.len() >= 8 {
                if let Ok(pw) = std::str::from_utf8(pw) {
                    assert!(!shown.contains(pw), "Debug shows the password");
                }
            }
        }
    }
    // Environment variables go through the same parser.
    let _ = Config::from_env_with(|name| (name == "HYPER_DATABASE_URL").then(|| text.to_owned()));
});
