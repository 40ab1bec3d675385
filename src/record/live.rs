//! Camera sessions for live relay: how a session is opened (the recorder's and the relay's
//! alike: DESCRIBE, SETUP with the camera's transport, PLAY, through `retina`), when a relayed
//! picture was captured, and the session the hub opens for a stream no recorder reads (a sub
//! stream, or a camera not recorded), kept while any workstation subscribes and closed
//! [`GRACE`] after the last one leaves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use retina::client::{
    Credentials, Demuxed, PlayOptions, SessionOptions, SetupOptions, TcpTransportOptions,
    Transport, UdpTransportOptions,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef};

use super::fmp4::{TrackConfig, VideoCodec};
use super::timing::{self, SenderReport};
use crate::config::{Camera, StreamKind, Transport as CameraTransport, redact_url};
use crate::relay::hub::{Feed, GRACE};
use crate::relay::wire::{Codec, CodecConfig, State};

/// Bounds each RTSP request of a session's set-up.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A playing stream silent for this long is dropped and reconnected.
pub(crate) const SILENCE_TIMEOUT: Duration = Duration::from_secs(5);
/// RTCP packet type of a BYE: the sender leaves.
pub(crate) const RTCP_BYE: u8 = 203;

pub(crate) async fn step<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, retina::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(REQUEST_TIMEOUT, f).await {
        Err(_) => Err(format!(
            "{what}: no answer in {} s",
            REQUEST_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(format!("{what}: {}", describe_error(&e))),
        Ok(Ok(v)) => Ok(v),
    }
}

/// retina's errors in a line (they carry addresses and contexts, never credentials: the URL
/// given to it holds none).
pub(crate) fn describe_error(e: &retina::Error) -> String {
    let s = e.to_string();
    if s.contains("401") {
        return "401 Unauthorized: the camera refused the credentials".into();
    }
    s.lines().next().unwrap_or("").to_owned()
}

/// A playing session: its demuxed stream and the index of its video stream.
pub(crate) struct Playing {
    pub demuxed: Demuxed,
    pub video: usize,
}

/// Opens `kind` of `cam` and plays it: RTP over TCP unless the camera is set to UDP or
/// refused TCP before (`over_udp`, set here when an "auto" camera answers 461).
pub(crate) async fn open(
    cam: &Camera,
    kind: StreamKind,
    over_udp: &mut bool,
    agent: &str,
) -> Result<Playing, String> {
    let field = match kind {
        StreamKind::Main => "main_url",
        StreamKind::Sub => "sub_url",
    };
    let url = url::Url::parse(cam.url(kind)).map_err(|e| format!("{field} is not a URL: {e}"))?;
    let creds = cam.credential.as_ref().map(|c| Credentials {
        username: c.user.clone(),
        password: c.password.clone(),
    });
    let options = SessionOptions::default()
        .creds(creds)
        .user_agent(format!("Vigie/{} {agent}", env!("CARGO_PKG_VERSION")));
    let mut session = step("DESCRIBE", retina::client::Session::describe(url, options)).await?;
    let Some(video) = session.streams().iter().position(|s| {
        s.media() == "video"
            && (s.encoding_name().eq_ignore_ascii_case("h264")
                || s.encoding_name().eq_ignore_ascii_case("h265"))
    }) else {
        let offered: Vec<String> = session
            .streams()
            .iter()
            .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
            .collect();
        return Err(format!(
            "unsupported codec: no H.264 or H.265 video stream (offered: {})",
            offered.join(", ")
        ));
    };
    let lower = if *over_udp {
        CameraTransport::Udp
    } else {
        cam.transport.first()
    };
    let setup = |lower: CameraTransport| {
        SetupOptions::default()
            .transport(match lower {
                CameraTransport::Udp => Transport::Udp(UdpTransportOptions::default()),
                _ => Transport::Tcp(TcpTransportOptions::default()),
            })
            .frame_format(FrameFormat::MP4)
    };
    let first = tokio::time::timeout(REQUEST_TIMEOUT, session.setup(video, setup(lower)))
        .await
        .map_err(|_| format!("SETUP: no answer in {} s", REQUEST_TIMEOUT.as_secs()))?;
    match first {
        Ok(_) => {}
        Err(e) if e.status_code() == Some(461) => match cam.transport.after_refusal(lower) {
            Some(next) => {
                tracing::info!(camera = %cam.id, stream = kind.as_str(), "the camera refuses RTP over TCP: RTP over UDP from now on");
                *over_udp = true;
                step("SETUP", session.setup(video, setup(next))).await?;
            }
            None => return Err(format!("SETUP: {}", CameraTransport::refused(lower))),
        },
        Err(e) => return Err(format!("SETUP: {}", describe_error(&e))),
    }
    let playing = step("PLAY", session.play(PlayOptions::default())).await?;
    let demuxed = playing
        .demuxed()
        .map_err(|e| format!("stream: {}", describe_error(&e)))?;
    Ok(Playing { demuxed, video })
}

/// The stream's parameters as the MP4 track needs them.
pub(crate) fn track_config(v: &retina::codec::VideoParameters) -> Option<TrackConfig> {
    let rfc = v.rfc6381_codec();
    let codec = if rfc.starts_with("avc1") {
        VideoCodec::H264
    } else if rfc.starts_with("hvc1") || rfc.starts_with("hev1") {
        VideoCodec::H265
    } else {
        return None;
    };
    let (w, h) = v.pixel_dimensions();
    Some(TrackConfig {
        codec,
        width: w.min(u16::MAX as u32) as u16,
        height: h.min(u16::MAX as u32) as u16,
        decoder_config: v.extra_data().to_vec(),
    })
}

/// The same parameters as a workstation's decoder needs them.
pub(crate) fn relay_config(t: &TrackConfig) -> Arc<CodecConfig> {
    Arc::new(CodecConfig {
        codec: match t.codec {
            VideoCodec::H264 => Codec::H264,
            VideoCodec::H265 => Codec::H265,
        },
        width: t.width,
        height: t.height,
        decoder_config: t.decoder_config.clone(),
    })
}

/// When a relayed picture was captured before its connection has a time base: through the
/// latest sender report when the camera's clock agrees with ours, else on arrival (true).
pub(crate) fn live_time(
    rtp: i64,
    clock_rate: u32,
    arrival_ns: i64,
    report: Option<SenderReport>,
    max_skew_ns: i64,
) -> (i64, bool) {
    let (a, _) = timing::anchor(rtp, clock_rate, arrival_ns, report, max_skew_ns);
    (a.utc_ns, a.source == timing::TimeSource::Arrival)
}

/// Whether a session's failure is the camera's configuration (shown as failed) rather than a
/// loss (retried as lost).
pub(crate) fn is_config_error(cause: &str) -> bool {
    cause.contains("401")
        || cause.contains("404")
        || cause.contains("unsupported codec")
        || cause.contains("is not a URL")
        || cause.contains("refuses RTP")
}

/// A camera stream's session for its subscriptions: opened on the first, reconnected with
/// backoff while any remain, closed [`GRACE`] after the last one leaves.
pub async fn serve(cam: Camera, feed: Arc<Feed>, max_skew: Duration) {
    let kind = feed.kind;
    let label = format!("{}/{}", cam.id, kind.as_str());
    let mut over_udp = false;
    let mut backoff = Duration::from_secs(1);
    let mut ever_live = false;
    loop {
        if feed.release_if_idle(GRACE) {
            tracing::debug!(stream = %label, "no subscription: session closed");
            return;
        }
        feed.set_state(State::Connecting, "");
        let (was_live, cause) = session(&cam, &feed, &mut over_udp, max_skew).await;
        ever_live |= was_live;
        let Some(cause) = cause else {
            return; // released
        };
        if was_live {
            backoff = Duration::from_secs(1);
        }
        tracing::warn!(stream = %label, url = %redact_url(cam.url(kind)), "relay: {cause}");
        let state = if is_config_error(&cause) && !ever_live {
            State::Failed
        } else {
            State::Lost
        };
        feed.set_state(state, &cause);
        let until = Instant::now() + backoff.mul_f64(0.8 + 0.4 * fastrand::f64());
        while Instant::now() < until {
            if feed.release_if_idle(GRACE) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250).min(until - Instant::now())).await;
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// One session: whether it showed a picture, and why it ended (None: nobody watches).
async fn session(
    cam: &Camera,
    feed: &Feed,
    over_udp: &mut bool,
    max_skew: Duration,
) -> (bool, Option<String>) {
    let mut p = match open(cam, feed.kind, over_udp, "relay").await {
        Ok(p) => p,
        Err(e) => return (false, Some(e)),
    };
    let mut config: Option<Arc<CodecConfig>> = None;
    let mut report: Option<SenderReport> = None;
    let mut live = false;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut last_rx = Instant::now();
    loop {
        let item = tokio::select! {
            item = p.demuxed.next() => item,
            _ = ticker.tick() => {
                if feed.release_if_idle(GRACE) {
                    return (live, None);
                }
                if last_rx.elapsed() > SILENCE_TIMEOUT {
                    return (live, Some(format!("no data for {} s", SILENCE_TIMEOUT.as_secs())));
                }
                continue;
            }
        };
        last_rx = Instant::now();
        match item {
            None => return (live, Some("the camera ended the stream".into())),
            Some(Err(e)) => return (live, Some(format!("stream: {}", describe_error(&e)))),
            Some(Ok(CodecItem::VideoFrame(f))) => {
                if (f.has_new_parameters() || config.is_none())
                    && let Some(ParametersRef::Video(v)) = p.demuxed.streams()[p.video].parameters()
                    && let Some(t) = track_config(v)
                {
                    config = Some(relay_config(&t));
                }
                let Some(c) = &config else { continue };
                let ts = f.timestamp();
                let arrival = crate::time::now_utc_ns()
                    - f.start_ctx().received().elapsed().as_nanos() as i64;
                let (at, on_arrival) = live_time(
                    ts.timestamp(),
                    ts.clock_rate().get(),
                    arrival,
                    report,
                    max_skew.as_nanos() as i64,
                );
                live = true;
                let key = f.is_random_access_point();
                feed.publish(c, key, on_arrival, at, f.into_data());
            }
            Some(Ok(CodecItem::Rtcp(r))) => {
                if r.pkts().any(|p| p.payload_type() == RTCP_BYE) {
                    return (live, Some("the camera ended the stream (RTCP BYE)".into()));
                }
                if let (Some(rtp), Some(Ok(Some(sr)))) = (
                    r.rtp_timestamp(),
                    r.pkts().next().map(|p| p.as_sender_report()),
                ) {
                    report = Some(SenderReport {
                        rtp: rtp.timestamp(),
                        utc_ns: timing::ntp_to_utc_ns(sr.ntp_timestamp().0),
                    });
                }
            }
            Some(Ok(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_is_timed_by_the_report_when_the_clocks_agree() {
        let sr = SenderReport {
            rtp: 90_000,
            utc_ns: 1_000_000_000_000,
        };
        // One second of RTP after the report, arriving 40 ms later than captured.
        let (at, arrival) = live_time(180_000, 90_000, 1_001_040_000_000, Some(sr), 2_000_000_000);
        assert_eq!((at, arrival), (1_001_000_000_000, false));
        // No report, or a camera clock 10 s off: the arrival time, and said so.
        assert_eq!(
            live_time(180_000, 90_000, 5, None, 2_000_000_000),
            (5, true)
        );
        let off = SenderReport {
            rtp: 90_000,
            utc_ns: 1_011_000_000_000,
        };
        assert_eq!(
            live_time(180_000, 90_000, 1_001_040_000_000, Some(off), 2_000_000_000),
            (1_001_040_000_000, true)
        );
    }
}
