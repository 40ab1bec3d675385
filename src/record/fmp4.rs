//! A fragmented MP4 writer for recorded video, without re-encoding: an init segment (`ftyp`,
//! `moov`) then one `moof` + `mdat` fragment per group of pictures. A file cut short by a crash
//! stays playable up to its last complete fragment.
//!
//! Input samples are length-prefixed NAL units (4-byte lengths, as in `avcC`/`hvcC` streams,
//! what RTSP depacketisers and `h264parse ! stream-format=avc` produce), with parameter sets in
//! the decoder configuration record. Times are in 90 kHz ticks, the RTP video clock.

use std::io::{self, Write};

/// Codec of the track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoCodec {
    /// `avc1` sample entry with an `avcC` record.
    H264,
    /// `hvc1` sample entry with an `hvcC` record.
    H265,
}

/// What the init segment describes.
#[derive(Clone, Debug)]
pub struct TrackConfig {
    pub codec: VideoCodec,
    pub width: u16,
    pub height: u16,
    /// The AVCDecoderConfigurationRecord or HEVCDecoderConfigurationRecord.
    pub decoder_config: Vec<u8>,
}

/// One access unit.
#[derive(Clone, Debug)]
pub struct Sample<'a> {
    pub data: &'a [u8],
    pub duration_90k: u32,
    pub keyframe: bool,
}

const TIMESCALE: u32 = 90_000;

/// Builds boxes: a size placeholder, then the payload, then the size patched in.
pub(crate) struct Boxes {
    pub(crate) buf: Vec<u8>,
    open: Vec<usize>,
}

impl Boxes {
    pub(crate) fn new() -> Boxes {
        Boxes {
            buf: Vec::with_capacity(1024),
            open: Vec::new(),
        }
    }
    pub(crate) fn begin(&mut self, fourcc: &[u8; 4]) {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(fourcc);
    }
    pub(crate) fn full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) {
        self.begin(fourcc);
        self.u32((version as u32) << 24 | (flags & 0xff_ffff));
    }
    pub(crate) fn end(&mut self) {
        if let Some(start) = self.open.pop() {
            let size = (self.buf.len() - start) as u32;
            self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
        }
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub(crate) fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }
    /// The unity transformation matrix of `mvhd` and `tkhd`.
    pub(crate) fn matrix(&mut self) {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
    }
}

/// The init segment (`ftyp` + `moov`) for `track`.
pub fn init_segment(track: &TrackConfig) -> Vec<u8> {
    let mut b = Boxes::new();
    b.begin(b"ftyp");
    b.bytes(b"iso6");
    b.u32(0);
    for brand in [
        b"iso6",
        b"isom",
        b"mp41",
        if track.codec == VideoCodec::H264 {
            b"avc1"
        } else {
            b"hvc1"
        },
    ] {
        b.bytes(brand);
    }
    b.end();

    b.begin(b"moov");
    b.full(b"mvhd", 0, 0);
    b.u32(0); // creation time
    b.u32(0); // modification time
    b.u32(TIMESCALE);
    b.u32(0); // duration: unknown, fragments follow
    b.u32(0x0001_0000); // rate 1.0
    b.u16(0x0100); // volume 1.0
    b.zeros(10);
    b.matrix();
    b.zeros(24);
    b.u32(2); // next track id
    b.end();

    b.begin(b"trak");
    b.full(b"tkhd", 0, 0x3); // enabled, in movie
    b.u32(0);
    b.u32(0);
    b.u32(1); // track id
    b.u32(0);
    b.u32(0); // duration
    b.zeros(8);
    b.u16(0); // layer
    b.u16(0); // alternate group
    b.u16(0); // volume (video)
    b.u16(0);
    b.matrix();
    b.u32((track.width as u32) << 16);
    b.u32((track.height as u32) << 16);
    b.end();

    b.begin(b"mdia");
    b.full(b"mdhd", 0, 0);
    b.u32(0);
    b.u32(0);
    b.u32(TIMESCALE);
    b.u32(0);
    b.u16(0x55c4); // language "und"
    b.u16(0);
    b.end();
    media_info(&mut b, track);
    for empty in [b"stts", b"stsc", b"stco"] {
        b.full(empty, 0, 0);
        b.u32(0);
        b.end();
    }
    b.full(b"stsz", 0, 0);
    b.u32(0);
    b.u32(0);
    b.end();
    b.end(); // stbl
    b.end(); // minf
    b.end(); // mdia
    b.end(); // trak

    b.begin(b"mvex");
    b.full(b"trex", 0, 0);
    b.u32(1); // track id
    b.u32(1); // default sample description
    b.u32(0);
    b.u32(0);
    b.u32(0);
    b.end();
    b.end();
    b.end(); // moov
    b.buf
}

/// The `hdlr` of a video track, then `minf` with `vmhd`, `dinf` and `stbl` opened and its
/// `stsd` (one `avc1`/`hvc1` entry) written: the caller adds the sample tables and closes
/// `stbl` and `minf`.
pub(crate) fn media_info(b: &mut Boxes, track: &TrackConfig) {
    b.full(b"hdlr", 0, 0);
    b.u32(0);
    b.bytes(b"vide");
    b.zeros(12);
    b.bytes(b"Vigie video\0");
    b.end();
    b.begin(b"minf");
    b.full(b"vmhd", 0, 1);
    b.zeros(8);
    b.end();
    b.begin(b"dinf");
    b.full(b"dref", 0, 0);
    b.u32(1);
    b.full(b"url ", 0, 1); // media in this file
    b.end();
    b.end();
    b.end();
    b.begin(b"stbl");
    b.full(b"stsd", 0, 0);
    b.u32(1);
    b.begin(if track.codec == VideoCodec::H264 {
        b"avc1"
    } else {
        b"hvc1"
    });
    b.zeros(6);
    b.u16(1); // data reference index
    b.zeros(16);
    b.u16(track.width);
    b.u16(track.height);
    b.u32(0x0048_0000); // 72 dpi
    b.u32(0x0048_0000);
    b.u32(0);
    b.u16(1); // frame count
    b.zeros(32); // compressor name
    b.u16(0x0018); // depth
    b.u16(0xffff); // pre-defined -1
    b.begin(if track.codec == VideoCodec::H264 {
        b"avcC"
    } else {
        b"hvcC"
    });
    b.bytes(&track.decoder_config);
    b.end();
    b.end(); // sample entry
    b.end(); // stsd
}

/// Sample flags: a sync sample depends on nothing; others depend on earlier ones.
const KEY_FLAGS: u32 = 0x0200_0000;
const DELTA_FLAGS: u32 = 0x0101_0000;

/// The `moof` + `mdat` of one fragment starting at `decode_time_90k`.
pub fn fragment(sequence: u32, decode_time_90k: u64, samples: &[Sample<'_>]) -> Vec<u8> {
    let mut b = fragment_header(sequence, decode_time_90k, samples);
    for s in samples {
        b.extend_from_slice(s.data);
    }
    b
}

/// The `moof` and the `mdat` header of a fragment: the samples' bytes follow it as they are.
pub fn fragment_header(sequence: u32, decode_time_90k: u64, samples: &[Sample<'_>]) -> Vec<u8> {
    let mut b = Boxes::new();
    b.begin(b"moof");
    b.full(b"mfhd", 0, 0);
    b.u32(sequence);
    b.end();
    b.begin(b"traf");
    b.full(b"tfhd", 0, 0x02_0000); // default-base-is-moof
    b.u32(1);
    b.end();
    b.full(b"tfdt", 1, 0);
    b.u64(decode_time_90k);
    b.end();
    // data offset, per-sample duration, size and flags
    b.full(b"trun", 0, 0x000001 | 0x000100 | 0x000200 | 0x000400);
    b.u32(samples.len() as u32);
    let offset_at = b.buf.len();
    b.u32(0); // data offset, patched below
    for s in samples {
        b.u32(s.duration_90k);
        b.u32(s.data.len() as u32);
        b.u32(if s.keyframe { KEY_FLAGS } else { DELTA_FLAGS });
    }
    b.end(); // trun
    b.end(); // traf
    b.end(); // moof
    let data_offset = (b.buf.len() + 8) as u32;
    b.buf[offset_at..offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    let payload: usize = samples.iter().map(|s| s.data.len()).sum();
    b.u32((payload + 8) as u32);
    b.bytes(b"mdat");
    b.buf
}

/// Writes every slice of `bufs` with as few system calls as the writer allows.
fn write_all_vectored(out: &mut impl Write, mut bufs: &mut [io::IoSlice<'_>]) -> io::Result<()> {
    io::IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match out.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Length of the playable prefix of a fragmented MP4 file: up to the end of its last complete
/// `moof` + `mdat` pair (or of the init segment when no fragment is complete). A recorder
/// truncates a file cut by a crash to this length before indexing it.
pub fn complete_length(data: &[u8]) -> u64 {
    let mut pos = 0usize;
    let mut good = 0usize;
    let mut pending_moof = false;
    while pos + 8 <= data.len() {
        let size =
            u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        let kind = &data[pos + 4..pos + 8];
        if size < 8 || pos + size > data.len() {
            break;
        }
        match kind {
            b"moof" => pending_moof = true,
            b"mdat" if pending_moof => {
                pending_moof = false;
                good = pos + size;
            }
            b"ftyp" | b"moov" if !pending_moof => good = pos + size,
            _ => {}
        }
        pos += size;
    }
    good as u64
}

/// What a scan of a fragmented MP4 file found in its complete prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    pub codec: VideoCodec,
    /// Bytes up to the end of the last complete fragment.
    pub complete_len: u64,
    /// Sum of the sample durations of the complete fragments, 90 kHz ticks.
    pub duration_90k: u64,
    /// (decode time, byte offset) of each complete fragment that starts with a keyframe.
    pub keyframes: Vec<(u64, u64)>,
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Children of a box payload: (fourcc, payload start, payload end).
fn children(d: &[u8], start: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut pos = start;
    while pos + 8 <= end {
        let Some(size) = be32(d, pos).map(|s| s as usize) else {
            break;
        };
        if size < 8 || pos + size > end {
            break;
        }
        let mut kind = [0u8; 4];
        kind.copy_from_slice(&d[pos + 4..pos + 8]);
        out.push((kind, pos + 8, pos + size));
        pos += size;
    }
    out
}

/// (duration of all samples, first sample is a keyframe) of a `moof`.
fn moof_summary(d: &[u8], start: usize, end: usize) -> Option<(u64, bool)> {
    let traf = children(d, start, end)
        .into_iter()
        .find(|c| &c.0 == b"traf")?;
    let trun = children(d, traf.1, traf.2)
        .into_iter()
        .find(|c| &c.0 == b"trun")?;
    let flags = be32(d, trun.1)? & 0xff_ffff;
    let count = be32(d, trun.1 + 4)? as usize;
    let mut pos = trun.1 + 8;
    if flags & 0x1 != 0 {
        pos += 4;
    }
    let mut first_flags = None;
    if flags & 0x4 != 0 {
        first_flags = be32(d, pos);
        pos += 4;
    }
    let per = 4 * [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|f| flags & **f != 0)
        .count();
    // Every sample's fields lie within the box: a count from a damaged or crafted file never
    // drives the loop past the bytes there are.
    if per > 0 && count > end.saturating_sub(pos) / per {
        return None;
    }
    let mut total = 0u64;
    for i in 0..if per > 0 { count } else { 0 } {
        let mut at = pos + i * per;
        if flags & 0x100 != 0 {
            total += be32(d, at)? as u64;
            at += 4;
        }
        if flags & 0x200 != 0 {
            at += 4;
        }
        if i == 0 && flags & 0x400 != 0 {
            first_flags = be32(d, at);
        }
    }
    let key = first_flags.is_none_or(|f| f & 0x0001_0000 == 0);
    Some((total, key))
}

/// Reads what a recorder needs to index a file it finds without a row (after a crash).
/// None when the file has no init segment of a known codec.
pub fn scan(d: &[u8]) -> Option<Scan> {
    let complete_len = complete_length(d) as usize;
    let mut codec = None;
    let mut duration_90k = 0u64;
    let mut keyframes = Vec::new();
    let mut moof: Option<(usize, usize, usize)> = None;
    for (kind, start, end) in children(d, 0, complete_len) {
        match &kind {
            b"moov" => {
                let moov = &d[start..end];
                codec = if moov.windows(4).any(|w| w == b"avcC") {
                    Some(VideoCodec::H264)
                } else if moov.windows(4).any(|w| w == b"hvcC") {
                    Some(VideoCodec::H265)
                } else {
                    None
                };
            }
            b"moof" => moof = Some((start - 8, start, end)),
            b"mdat" => {
                if let Some((at, s, e)) = moof.take() {
                    let (dur, key) = moof_summary(d, s, e)?;
                    if key {
                        keyframes.push((duration_90k, at as u64));
                    }
                    duration_90k += dur;
                }
            }
            _ => {}
        }
    }
    Some(Scan {
        codec: codec?,
        complete_len: complete_len as u64,
        duration_90k,
        keyframes,
    })
}

/// One sample of a recorded file, located for reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleInfo {
    /// Byte offset of its data in the file.
    pub offset: u64,
    pub size: u32,
    /// Decode time from the file's start, 90 kHz ticks.
    pub time_90k: u64,
    pub duration_90k: u32,
    pub keyframe: bool,
}

/// What playback needs of a recorded file: its track and every sample of its complete
/// fragments, in decode order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleTable {
    pub codec: VideoCodec,
    /// The avcC or hvcC record.
    pub decoder_config: Vec<u8>,
    pub width: u16,
    pub height: u16,
    pub samples: Vec<SampleInfo>,
}

/// Reads the sample table of a file written by [`Fmp4Writer`] (per-sample durations, sizes and
/// flags in each `trun`, data offsets from the `moof`). None when the file has no init segment
/// of a known codec; samples of an incomplete last fragment are left out.
pub fn sample_table(d: &[u8]) -> Option<SampleTable> {
    let complete_len = complete_length(d) as usize;
    let mut track: Option<(VideoCodec, Vec<u8>, u16, u16)> = None;
    let mut samples = Vec::new();
    let mut time_90k = 0u64;
    for (kind, start, end) in children(d, 0, complete_len) {
        match &kind {
            b"moov" => track = sample_entry(d, start, end),
            b"moof" => {
                let traf = children(d, start, end)
                    .into_iter()
                    .find(|c| &c.0 == b"traf")?;
                let trun = children(d, traf.1, traf.2)
                    .into_iter()
                    .find(|c| &c.0 == b"trun")?;
                let flags = be32(d, trun.1)? & 0xff_ffff;
                // What this reader knows: data offset and per-sample duration, size, flags.
                if flags & 0x701 != 0x701 {
                    return None;
                }
                let count = be32(d, trun.1 + 4)? as usize;
                let data_offset = be32(d, trun.1 + 8)? as u64;
                let mut at = trun.1 + 12 + if flags & 0x4 != 0 { 4 } else { 0 };
                let per = 12 + if flags & 0x800 != 0 { 4 } else { 0 };
                if count > trun.2.saturating_sub(at) / per {
                    return None;
                }
                let mut offset = (start - 8) as u64 + data_offset;
                for _ in 0..count {
                    let duration = be32(d, at)?;
                    let size = be32(d, at + 4)?;
                    let sflags = be32(d, at + 8)?;
                    at += per;
                    if offset + size as u64 > complete_len as u64 {
                        return None;
                    }
                    samples.push(SampleInfo {
                        offset,
                        size,
                        time_90k,
                        duration_90k: duration,
                        keyframe: sflags & 0x0001_0000 == 0,
                    });
                    offset += size as u64;
                    time_90k += duration as u64;
                }
            }
            _ => {}
        }
    }
    let (codec, decoder_config, width, height) = track?;
    Some(SampleTable {
        codec,
        decoder_config,
        width,
        height,
        samples,
    })
}

/// The track of a file from its first bytes (`ftyp` + `moov`, a few hundred bytes): codec,
/// decoder configuration record, width and height.
pub fn read_track(d: &[u8]) -> Option<(VideoCodec, Vec<u8>, u16, u16)> {
    let moov = children(d, 0, d.len())
        .into_iter()
        .find(|c| &c.0 == b"moov")?;
    sample_entry(d, moov.1, moov.2)
}

/// One fragment read at its `moof`: the samples (offsets in the file, times from the file's
/// start) and where its `mdat` payload lies. `head` holds the file's bytes from `moof_offset`
/// on, at least the whole `moof` and the `mdat` header.
pub fn read_fragment(head: &[u8], moof_offset: u64) -> Option<(Vec<SampleInfo>, u64, u64)> {
    let moof_size = be32(head, 0)? as usize;
    if head.get(4..8)? != b"moof" || moof_size < 8 || head.len() < moof_size + 8 {
        return None;
    }
    let traf = children(head, 8, moof_size)
        .into_iter()
        .find(|c| &c.0 == b"traf")?;
    let boxes = children(head, traf.1, traf.2);
    let tfdt = boxes.iter().find(|c| &c.0 == b"tfdt")?;
    let mut time_90k = if *head.get(tfdt.1)? == 1 {
        (be32(head, tfdt.1 + 4)? as u64) << 32 | be32(head, tfdt.1 + 8)? as u64
    } else {
        be32(head, tfdt.1 + 4)? as u64
    };
    let trun = boxes.iter().find(|c| &c.0 == b"trun")?;
    let flags = be32(head, trun.1)? & 0xff_ffff;
    if flags & 0x701 != 0x701 {
        return None;
    }
    let count = be32(head, trun.1 + 4)? as usize;
    let mut offset = moof_offset.checked_add(be32(head, trun.1 + 8)? as u64)?;
    let mut at = trun.1 + 12 + if flags & 0x4 != 0 { 4 } else { 0 };
    let per = 12 + if flags & 0x800 != 0 { 4 } else { 0 };
    // The count is believed only as far as the box holds that many entries.
    if count > trun.2.saturating_sub(at) / per {
        return None;
    }
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let (duration, size, sflags) = (be32(head, at)?, be32(head, at + 4)?, be32(head, at + 8)?);
        at += per;
        samples.push(SampleInfo {
            offset,
            size,
            time_90k,
            duration_90k: duration,
            keyframe: sflags & 0x0001_0000 == 0,
        });
        offset = offset.checked_add(size as u64)?;
        time_90k = time_90k.checked_add(duration as u64)?;
    }
    if head.get(moof_size + 4..moof_size + 8)? != b"mdat" {
        return None;
    }
    let mdat_len = be32(head, moof_size)? as u64;
    let payload_at = moof_offset + moof_size as u64 + 8;
    Some((samples, payload_at, mdat_len.saturating_sub(8)))
}

/// Codec, decoder configuration record and size from the `avc1`/`hvc1` entry under `moov`.
fn sample_entry(d: &[u8], start: usize, end: usize) -> Option<(VideoCodec, Vec<u8>, u16, u16)> {
    let mut range = (start, end);
    for path in [b"trak", b"mdia", b"minf", b"stbl", b"stsd"] {
        let c = children(d, range.0, range.1)
            .into_iter()
            .find(|c| &c.0 == path)?;
        range = (c.1, c.2);
    }
    // stsd: version/flags and entry count, then the sample entries.
    let (kind, s, e) = children(d, range.0 + 8, range.1).into_iter().next()?;
    let (codec, config_box) = match &kind {
        b"avc1" => (VideoCodec::H264, b"avcC"),
        b"hvc1" | b"hev1" => (VideoCodec::H265, b"hvcC"),
        _ => return None,
    };
    // VisualSampleEntry: 6 reserved, data reference index, 16 pre-defined/reserved, then
    // width and height; its child boxes start 78 bytes in.
    let width = u16::from_be_bytes([*d.get(s + 24)?, *d.get(s + 25)?]);
    let height = u16::from_be_bytes([*d.get(s + 26)?, *d.get(s + 27)?]);
    let config = children(d, s + 78, e)
        .into_iter()
        .find(|c| &c.0 == config_box)?;
    Some((codec, d[config.1..config.2].to_vec(), width, height))
}

/// Writes an init segment then fragments to `out`, tracking what a segment index needs.
pub struct Fmp4Writer<W: Write> {
    out: W,
    sequence: u32,
    decode_time_90k: u64,
    bytes: u64,
    /// (time from the start in 90 kHz ticks, byte offset of the fragment) per fragment.
    keyframes: Vec<(u64, u64)>,
}

impl<W: Write> Fmp4Writer<W> {
    pub fn new(mut out: W, track: &TrackConfig) -> io::Result<Fmp4Writer<W>> {
        let init = init_segment(track);
        out.write_all(&init)?;
        Ok(Fmp4Writer {
            out,
            sequence: 0,
            decode_time_90k: 0,
            bytes: init.len() as u64,
            keyframes: Vec::new(),
        })
    }

    /// Writes one fragment (normally a GOP starting with its keyframe).
    pub fn write_fragment(&mut self, samples: &[Sample<'_>]) -> io::Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        self.sequence += 1;
        if samples[0].keyframe {
            self.keyframes.push((self.decode_time_90k, self.bytes));
        }
        let header = fragment_header(self.sequence, self.decode_time_90k, samples);
        // One vectored write, straight from the samples' buffers, handed to the kernel at
        // once: a crash of the process loses at most the GOP being gathered (the file is
        // fsynced when the segment ends).
        let mut bufs: Vec<io::IoSlice<'_>> = std::iter::once(io::IoSlice::new(&header))
            .chain(samples.iter().map(|s| io::IoSlice::new(s.data)))
            .collect();
        write_all_vectored(&mut self.out, &mut bufs)?;
        self.out.flush()?;
        let payload: usize = samples.iter().map(|s| s.data.len()).sum();
        self.bytes += (header.len() + payload) as u64;
        self.decode_time_90k += samples.iter().map(|s| s.duration_90k as u64).sum::<u64>();
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Duration written so far, 90 kHz ticks.
    pub fn duration_90k(&self) -> u64 {
        self.decode_time_90k
    }

    /// (time, byte offset) of each fragment that starts with a keyframe.
    pub fn keyframes(&self) -> &[(u64, u64)] {
        &self.keyframes
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of one fragment of three pictures, and where its `trun` box starts.
    fn file() -> (Vec<u8>, usize) {
        let track = TrackConfig {
            codec: VideoCodec::H264,
            width: 64,
            height: 48,
            decoder_config: vec![1, 0x42, 0, 0x1e, 0xff, 0xe0, 0],
        };
        let mut d = init_segment(&track);
        let pictures = [[1u8; 40], [2u8; 40], [3u8; 40]];
        let samples: Vec<Sample<'_>> = pictures
            .iter()
            .enumerate()
            .map(|(i, p)| Sample {
                data: p,
                duration_90k: 3600,
                keyframe: i == 0,
            })
            .collect();
        d.extend_from_slice(&fragment(1, 0, &samples));
        let trun = d.windows(4).rposition(|w| w == b"trun").expect("trun") - 4;
        (d, trun)
    }

    #[test]
    fn a_whole_file_reads_back() {
        let (d, _) = file();
        let table = sample_table(&d).expect("table");
        assert_eq!(table.samples.len(), 3);
        assert!(table.samples[0].keyframe && !table.samples[1].keyframe);
        let scan = scan(&d).expect("scan");
        assert_eq!(scan.duration_90k, 3 * 3600);
        let moof = d.windows(4).position(|w| w == b"moof").expect("moof") - 4;
        let (samples, _, len) = read_fragment(&d[moof..], moof as u64).expect("fragment");
        assert_eq!((samples.len(), len), (3, 120));
    }

    #[test]
    fn crafted_sample_counts_are_believed_only_as_far_as_the_box_holds_entries() {
        for count in [4u32, 1 << 20, u32::MAX] {
            let (mut d, trun) = file();
            d[trun + 12..trun + 16].copy_from_slice(&count.to_be_bytes());
            let moof = d.windows(4).position(|w| w == b"moof").expect("moof") - 4;
            // None rather than a table read past the box, or a vector of 4 billion entries.
            assert_eq!(read_fragment(&d[moof..], moof as u64), None, "{count}");
            assert_eq!(sample_table(&d), None, "{count}");
            assert_eq!(scan(&d), None, "{count}");
        }
        // A trun with no per-sample field and four billion samples is read at once.
        let (mut d, trun) = file();
        d[trun + 9..trun + 12].copy_from_slice(&[0, 0, 1]);
        d[trun + 12..trun + 16].copy_from_slice(&u32::MAX.to_be_bytes());
        let scan = scan(&d).expect("scan");
        assert_eq!(scan.duration_90k, 0);
    }

    #[test]
    fn times_and_offsets_that_would_overflow_are_refused() {
        let (mut d, _) = file();
        let moof = d.windows(4).position(|w| w == b"moof").expect("moof") - 4;
        let tfdt = d.windows(4).rposition(|w| w == b"tfdt").expect("tfdt") - 4;
        d[tfdt + 12..tfdt + 20].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(read_fragment(&d[moof..], moof as u64), None);
        let (d, _) = file();
        assert_eq!(read_fragment(&d[moof..], u64::MAX - 8), None);
    }

    #[test]
    fn box_sizes_past_the_end_or_below_a_header_end_the_walk() {
        let (d, _) = file();
        for cut in 0..d.len() {
            assert!(complete_length(&d[..cut]) <= cut as u64);
            let _ = scan(&d[..cut]);
            let _ = sample_table(&d[..cut]);
            let _ = read_track(&d[..cut]);
        }
        let mut d = d;
        d[0..4].copy_from_slice(&3u32.to_be_bytes());
        assert_eq!(complete_length(&d), 0);
    }
}
