//! Drives the SCRAM client with arbitrary server-first and server-final messages.
#![no_main]

use hyperdjango_pgwire::proto::auth::{ChannelBinding, ScramSha256, choose_sasl_mechanism};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = choose_sasl_mechanism(data, data.first().is_some_and(|b| b & 1 == 1));
    let split = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    let (first, last) = data.split_at(split);
    let mut scram = ScramSha256::with_nonce(b"pencil", ChannelBinding::Unsupported, "rOprNGfwEbeRWgbNEkqO")
        .with_max_iterations(64);
    if scram.update(first).is_ok() {
        let _ = scram.finish(last.get(1..).unwrap_or(&[]));
    }
});
