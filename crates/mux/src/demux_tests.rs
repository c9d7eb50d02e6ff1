//! Tests of the MP4 demuxer: a hand-built file (box by box) and the errors of bad ones.

use super::*;

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

fn full(kind: &[u8; 4], words: &[u32]) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 0];
    for w in words {
        b.extend_from_slice(&w.to_be_bytes());
    }
    bx(kind, &b)
}

/// A file: ftyp, mdat holding three H.264 samples (5, 6, 7 bytes) in two chunks, then moov
/// (timescale 1000, 40 ms per sample, sample 2 with a 40 ms composition offset, sample 1 the
/// only sync sample).
fn file() -> (Vec<u8>, u64) {
    let mut f = bx(b"ftyp", b"isom\0\0\0\0");
    let mdat_at = f.len() as u64 + 8;
    f.extend(bx(b"mdat", &[1u8; 18]));
    let avcc = [1u8, 0x64, 0, 0x1f, 0xff, 0xe0, 0];
    let mut avc1 = vec![0u8; 78];
    avc1.extend(bx(b"avcC", &avcc));
    let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
    stsd.extend(bx(b"avc1", &avc1));
    let stbl = [
        bx(b"stsd", &stsd),
        full(b"stts", &[1, 3, 40]),
        full(b"ctts", &[2, 1, 0, 1, 40]),
        full(b"stsz", &[0, 3, 5, 6, 7]),
        full(b"stsc", &[2, 1, 2, 1, 2, 1, 1]),
        full(b"stco", &[2, mdat_at as u32, mdat_at as u32 + 11]),
        full(b"stss", &[1, 1]),
    ]
    .concat();
    let mdhd = full(b"mdhd", &[0, 0, 1000, 120, 0]);
    let minf = bx(b"minf", &bx(b"stbl", &stbl));
    let trak = bx(b"trak", &bx(b"mdia", &[mdhd, minf].concat()));
    f.extend(bx(b"moov", &trak));
    (f, mdat_at)
}

fn open(f: &[u8], limits: Mp4Limits) -> Result<Mp4File, Mp4DemuxError> {
    let mut o = Mp4Opener::new(f.len() as u64, limits);
    while let Some((pos, len)) = o.poll_read() {
        let start = (pos as usize).min(f.len());
        let end = (start + len).min(f.len());
        o.handle_read(pos, &f[start..end]);
    }
    o.finish()
}

#[test]
fn samples_times_and_tag_bodies() {
    let (f, mdat) = file();
    let m = open(&f, Mp4Limits::default()).unwrap();
    assert_eq!(m.video, Some(Mp4Video::Avc));
    assert_eq!(m.duration_ms, 120);
    let offs: Vec<(u64, u32, u32, i32, bool)> = m
        .samples
        .iter()
        .map(|s| (s.offset - mdat, s.size, s.dts_ms, s.cts_ms, s.key))
        .collect();
    assert_eq!(
        offs,
        [
            (0, 5, 0, 0, true),
            (5, 6, 40, 40, false),
            (11, 7, 80, 0, false)
        ]
    );
    assert_eq!(
        &m.headers[0].1[..],
        &[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe0, 0]
    );
    assert_eq!(m.tag_prefix(&m.samples[1]), [0x27, 1, 0, 0, 40]);
    let hevc = Mp4File {
        video: Some(Mp4Video::Hevc),
        ..m.clone()
    };
    assert_eq!(
        hevc.tag_prefix(&m.samples[0]),
        [0x91, b'h', b'v', b'c', b'1', 0, 0, 0]
    );
}

#[test]
fn bad_files_are_typed_errors() {
    let (f, _) = file();
    assert_eq!(
        open(
            &f,
            Mp4Limits {
                max_moov_size: 100,
                ..Mp4Limits::default()
            }
        ),
        Err(Mp4DemuxError::MoovTooLarge {
            size: moov_size(&f),
            limit: 100
        })
    );
    assert_eq!(
        open(
            &f,
            Mp4Limits {
                max_samples: 2,
                ..Mp4Limits::default()
            }
        ),
        Err(Mp4DemuxError::TooManySamples(2))
    );
    // Cut inside moov, or before it.
    assert!(open(&f[..f.len() - 3], Mp4Limits::default()).is_err());
    assert_eq!(
        open(&f[..40], Mp4Limits::default()),
        Err(Mp4DemuxError::NoMoov)
    );
    assert_eq!(open(b"", Mp4Limits::default()), Err(Mp4DemuxError::NoMoov));
}

fn moov_size(f: &[u8]) -> u64 {
    let at = f.windows(4).position(|w| w == b"moov").unwrap() - 4;
    u64::from(u32::from_be_bytes(f[at..at + 4].try_into().unwrap()))
}
