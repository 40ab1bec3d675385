#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigie_fuzz::rtsp_url(data));
