//! Alarm sounds, played by GStreamer on the system's audio output: "alert" (three short high
//! beeps, for alert buttons) and "chime" (one lower tone). Played on a thread of its own; a
//! machine without audio output logs it once and stays silent.

use std::sync::atomic::{AtomicBool, Ordering};

use gstreamer as gst;
use gstreamer::prelude::*;

static NO_AUDIO_LOGGED: AtomicBool = AtomicBool::new(false);

/// Plays `sound` ("alert", "chime"; anything else is silent) without waiting.
pub fn play(sound: &str) {
    let tones: &[(f64, u64)] = match sound {
        "alert" => &[
            (1175.0, 180),
            (0.0, 90),
            (1175.0, 180),
            (0.0, 90),
            (1175.0, 180),
        ],
        "chime" => &[(784.0, 350)],
        _ => return,
    };
    let tones = tones.to_vec();
    let _ = std::thread::Builder::new()
        .name("alarm sound".into())
        .spawn(move || {
            if let Err(e) = tones_out(&tones)
                && !NO_AUDIO_LOGGED.swap(true, Ordering::Relaxed)
            {
                tracing::warn!("alarm sounds are off: {e}");
            }
        });
}

/// Each (frequency, ms): a sine at that frequency, or silence at 0.
fn tones_out(tones: &[(f64, u64)]) -> Result<(), String> {
    gst::init().map_err(|e| e.to_string())?;
    for &(freq, ms) in tones {
        if freq == 0.0 {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            continue;
        }
        // 441 samples a buffer at 44.1 kHz: 10 ms each.
        let desc = format!(
            "audiotestsrc wave=sine freq={freq} volume=0.4 samplesperbuffer=441 num-buffers={} ! audioconvert ! audioresample ! autoaudiosink",
            ms / 10
        );
        let p = gst::parse::launch(&desc).map_err(|e| e.to_string())?;
        p.set_state(gst::State::Playing)
            .map_err(|_| "no audio output".to_string())?;
        let bus = p.bus().ok_or("no bus")?;
        let end = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(ms + 2000),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        let _ = p.set_state(gst::State::Null);
        if let Some(m) = end
            && let gst::MessageView::Error(e) = m.view()
        {
            return Err(e.error().to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tone_plays_or_says_why_not() {
        // Machines without audio output answer with an error, never a panic or a hang.
        let t0 = std::time::Instant::now();
        match super::tones_out(&[(880.0, 50)]) {
            Ok(()) => {}
            Err(e) => assert!(!e.is_empty()),
        }
        assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    }
}
