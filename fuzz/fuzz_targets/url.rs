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
        // Debug never depends on the password (it may equal another field's text, so
        // searching the output for it would prove nothing).
        if cfg.get_password().is_some() {
            let mut other = cfg.clone();
            other.password("a different password");
            assert_eq!(format!("{cfg:?}"), format!("{other:?}"), "Debug shows the password");
        }
    }
    // Environment variables go through the same parser.
    let _ = Config::from_env_with(|name| (name == "HYPER_DATABASE_URL").then(|| text.to_owned()));
});
