//! Runs every seed of the `flv` fuzz corpus (fuzz/corpus/flv) through the same code path as the
//! fuzz target (`sluice_flv::check::exercise_flv`), so the corpus is a regression suite in
//! ordinary `cargo test` runs.

use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/flv")
}

#[test]
fn every_corpus_file_runs_cleanly() {
    let mut entries: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory exists")
        .map(|e| e.expect("readable entry").path())
        .collect();
    entries.sort();
    assert!(
        entries.len() >= 8,
        "seed corpus has {} files",
        entries.len()
    );
    for path in entries {
        let data = std::fs::read(&path).expect("readable corpus file");
        let events = sluice_flv::check::exercise_flv(&data);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".flv") {
            assert!(events >= 1, "{name}: no header demuxed");
        }
        // Every prefix must be handled without panicking, too.
        for cut in (0..data.len()).step_by(7) {
            sluice_flv::check::exercise_flv(&data[..cut]);
        }
    }
}

#[test]
fn enhanced_seeds_parse_completely() {
    // The hand-built enhanced files must demux to header + all their tags.
    for (name, tags) in [
        ("03-enhanced-hvc1.flv", 4),
        ("04-enhanced-av1-vp9.flv", 4),
        ("05-multitrack.flv", 5),
        ("06-modex.flv", 3),
        ("07-opus-flac.flv", 4),
        ("08-legacy-hevc-command-metadata.flv", 5),
        ("11-setdataframe.flv", 1),
    ] {
        let data = std::fs::read(corpus_dir().join(name)).expect(name);
        let mut r = sluice_flv::FlvReader::new(&data[..]);
        let mut n = 0;
        while let Some(tag) = r.next_tag().expect(name) {
            n += 1;
            match tag.tag_type {
                sluice_flv::TagType::VIDEO => {
                    sluice_flv::parse_video_header(&tag.data).expect(name);
                }
                sluice_flv::TagType::AUDIO => {
                    sluice_flv::parse_audio_header(&tag.data).expect(name);
                }
                _ => {
                    sluice_flv::parse_script(&tag.data).expect(name);
                }
            }
        }
        assert_eq!(n, tags, "{name}");
        assert_eq!(r.demuxer().previous_tag_size_mismatches(), 0, "{name}");
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory exists")
        .map(|e| e.expect("readable entry").path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("readable corpus file"))
        .collect()
}

proptest::proptest! {
    /// A small in-process mutation fuzzer over the seeds: overwrite, insert and delete bytes.
    #[test]
    fn mutated_seeds_never_panic(
        seed in 0usize..64,
        edits in proptest::collection::vec((0usize..5000, proptest::prelude::any::<u8>(), 0u8..3), 1..8),
    ) {
        let seeds = seeds();
        let mut data = seeds[seed % seeds.len()].clone();
        for (pos, byte, op) in edits {
            let at = pos % (data.len() + 1);
            match op {
                0 if at < data.len() => data[at] = byte,
                1 => data.insert(at, byte),
                _ if at < data.len() => {
                    data.remove(at);
                }
                _ => data.push(byte),
            }
        }
        sluice_flv::check::exercise_flv(&data);
    }
}
