//! The fuzz targets' inputs as regression tests: every file of the fuzz corpora
//! (`fuzz/corpus/TARGET`, minimised after each fuzzing run) and every input a fuzzer once
//! crashed on (`fuzz/regressions/TARGET`) goes through the very checks the targets run
//! (`fuzz/src/lib.rs`), on the stable toolchain.

#[path = "../fuzz/src/lib.rs"]
mod checks;

fn run(target: &str, check: fn(&[u8])) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).expect("input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", f.display());
            n += 1;
        }
    }
    assert!(
        n > 0,
        "{target}: no input in fuzz/corpus or fuzz/regressions"
    );
}

#[test]
fn fmp4_readers() {
    run("fmp4", checks::fmp4);
}

#[test]
fn event_and_position_json() {
    run("events_json", checks::events_json);
}

#[test]
fn event_service_connections() {
    run("event_service", checks::event_service);
}

#[test]
fn configuration_files() {
    run("config_toml", checks::config_toml);
}

#[test]
fn camera_addresses() {
    run("rtsp_url", checks::rtsp_url);
}

#[test]
fn export_verification() {
    run("export_verify", checks::export_verify);
}

#[test]
fn site_server_requests() {
    run("server_api", checks::server_api);
}
