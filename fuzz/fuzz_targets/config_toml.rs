#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigie_fuzz::config_toml(data));
