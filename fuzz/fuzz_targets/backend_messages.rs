//! Feeds arbitrary bytes to the backend decoder as a server stream: frames are split off a
//! buffer and decoded until the bytes run out or an error stops the stream. Any panic, or an
//! allocation far beyond the input's size, is a bug.
#![no_main]

use bytes::BytesMut;
use hyperdjango_pgwire::proto::backend::{Message, split_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some((tag, body))) = split_frame(&mut buf) {
        if let Ok(Message::DataRow(row)) = Message::decode(tag, body) {
            for i in 0..row.len() {
                let _ = row.get(i);
            }
        }
    }
});
