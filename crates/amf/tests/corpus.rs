//! Runs every file of the committed fuzz seed corpus (`fuzz/corpus/amf0`, `fuzz/corpus/amf3`)
//! through the exact code path of the fuzz targets, so CI exercises it without nightly Rust.
//!
//! The seeds themselves are defined here; `cargo test -p sluice-amf --test corpus --
//! --ignored write_seed_corpus` rewrites the files from these definitions.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sluice_amf::{
    amf0_encode_all, amf3_encode_all, check, Amf0Object, Amf0Value, Amf3Array, Amf3Object,
    Amf3Value, AmfLimits,
};

fn corpus_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(name)
}

fn hex(text: &str) -> Vec<u8> {
    let clean: String = text.split_whitespace().collect();
    hex::decode(clean).expect("seed is valid hex")
}

fn amf0_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let connect = Amf0Object::new()
        .with("app", "live")
        .with("type", "nonprivate")
        .with("flashVer", "FMLE/3.0 (compatible; Lavf61.1.100)")
        .with("tcUrl", "rtmp://localhost:1935/live");
    let status = Amf0Object::new()
        .with("level", "status")
        .with("code", "NetStream.Publish.Start")
        .with("description", "live/stream is now published.");
    let metadata = Amf0Value::EcmaArray(
        Amf0Object::new()
            .with("duration", 0.0)
            .with("width", 1280.0)
            .with("height", 720.0)
            .with("videocodecid", 7.0)
            .with("audiocodecid", 10.0)
            .with("encoder", "Lavf61.1.100"),
    );
    vec![
        (
            "create_stream",
            hex("02 000C 63726561746553747265616D 00 4000000000000000 05"),
        ),
        (
            "connect",
            amf0_encode_all(&["connect".into(), 1.0.into(), connect.into()]).to_vec(),
        ),
        (
            "on_status",
            amf0_encode_all(&[
                "onStatus".into(),
                0.0.into(),
                Amf0Value::Null,
                status.into(),
            ])
            .to_vec(),
        ),
        (
            "set_data_frame",
            amf0_encode_all(&["@setDataFrame".into(), "onMetaData".into(), metadata]).to_vec(),
        ),
        (
            "references",
            hex("03 0001 61 03 0001 62 00 3FF0000000000000 0000 09 0000 09 07 0001 07 0000"),
        ),
        (
            "typed_date_xml",
            amf0_encode_all(&[
                Amf0Value::TypedObject {
                    class_name: "flex.messaging.messages.RemotingMessage".into(),
                    properties: Amf0Object::new().with("operation", "ping"),
                },
                Amf0Value::Date {
                    millis: 1.7e12,
                    timezone: 0,
                },
                Amf0Value::XmlDocument("<a b=\"c\"/>".into()),
                Amf0Value::Unsupported,
                Amf0Value::Undefined,
                Amf0Value::Boolean(true),
            ])
            .to_vec(),
        ),
        (
            "avmplus",
            amf0_encode_all(&[
                "play".into(),
                Amf0Value::Avmplus(Amf3Value::Integer(4)),
                Amf0Value::Avmplus(Amf3Object::anonymous(vec![("a".into(), "b".into())]).into()),
            ])
            .to_vec(),
        ),
        ("long_string", amf0_encode_all(&["z".repeat(300).into()]).to_vec()),
        ("unterminated_ecma", hex("08 00000002 0001 61 05 0001 62 01 01")),
        (
            "strict_arrays",
            amf0_encode_all(&[Amf0Value::StrictArray(vec![
                Amf0Value::StrictArray(vec![1.0.into(), "x".into()]),
                Amf0Value::StrictArray(vec![]),
            ])])
            .to_vec(),
        ),
        ("empty_name_property", hex("03 0000 05 0000 09")),
        ("reserved_marker", hex("02 0001 61 04")),
        (
            "reference_fanout",
            hex("0A 00000003 05 05 05 0A 00000003 07 0000 07 0000 07 0000 0A 00000002 07 0001 07 0001"),
        ),
    ]
}

fn amf3_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let class = |x: i32| -> Amf3Value {
        Amf3Object {
            class_name: "Point".into(),
            sealed: vec![("x".into(), x.into()), ("y".into(), (-x).into())],
            dynamic: None,
        }
        .into()
    };
    vec![
        (
            "scalars",
            hex("00 01 02 03 04 00 04 FF FF FF FF 05 3FF8000000000000"),
        ),
        (
            "u29_edges",
            hex("04 7F 04 81 00 04 FF 7F 04 81 80 00 04 BF FF FF FF 04 C0 80 80 00"),
        ),
        (
            "strings",
            amf3_encode_all(&["abc".into(), "".into(), "abc".into(), "é€".into()]).to_vec(),
        ),
        (
            "anonymous_object",
            amf3_encode_all(&[Amf3Object::anonymous(vec![
                ("code".into(), "NetConnection.Connect.Success".into()),
                ("objectEncoding".into(), 3.into()),
            ])
            .into()])
            .to_vec(),
        ),
        (
            "traits_reference",
            amf3_encode_all(&[class(1), class(2), class(1)]).to_vec(),
        ),
        (
            "array",
            amf3_encode_all(&[Amf3Array {
                assoc: vec![("k".into(), Amf3Value::Null)],
                dense: vec![1.into(), 2.5.into(), "s".into()],
            }
            .into()])
            .to_vec(),
        ),
        (
            "vectors",
            amf3_encode_all(&[
                Amf3Value::VectorInt {
                    fixed: false,
                    items: vec![1, -1],
                },
                Amf3Value::VectorUint {
                    fixed: true,
                    items: vec![u32::MAX],
                },
                Amf3Value::VectorDouble {
                    fixed: false,
                    items: vec![0.5],
                },
                Amf3Value::VectorObject {
                    fixed: false,
                    type_name: "Point".into(),
                    items: vec![class(3)],
                },
            ])
            .to_vec(),
        ),
        (
            "dictionary",
            amf3_encode_all(&[Amf3Value::Dictionary {
                weak_keys: true,
                entries: vec![("k".into(), 1.into()), (class(1), "v".into())],
            }])
            .to_vec(),
        ),
        (
            "object_table_leaves",
            hex(
                "08 01 426D1A94A2000000 07 09 3C612F3E 0B 09 3C622F3E 0C 05 0102 08 00 07 02 0C 06",
            ),
        ),
        (
            "byte_array",
            amf3_encode_all(&[Amf3Value::ByteArray(Bytes::from_static(
                b"\x00\x01\x02\xff",
            ))])
            .to_vec(),
        ),
        (
            "externalizable",
            hex("0A 07 37 666C65782E6D6573736167696E672E696F2E41727261794C697374"),
        ),
        (
            "nested_references",
            hex("09 05 01 06 03 73 0A 0B 01 03 61 06 00 01 0A 02 09 00"),
        ),
    ]
}

/// Every file must go through `check` without panicking; files that libFuzzer adds to the
/// directory may well be invalid messages, so only the seeds' validity is asserted (below).
fn run_dir(name: &str, check: fn(&[u8], &AmfLimits) -> Result<usize, sluice_amf::AmfError>) {
    let dir = corpus_dir(name);
    let mut files = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("readable corpus directory").path();
        let data = fs::read(&path).expect("readable corpus file");
        files += 1;
        let _ = check(&data, &AmfLimits::default());
    }
    assert!(files >= 8, "{name}: only {files} corpus files");
}

#[test]
fn amf0_corpus() {
    run_dir("amf0", check::amf0_round_trip);
}

#[test]
fn amf3_corpus() {
    run_dir("amf3", check::amf3_round_trip);
}

#[test]
fn seeds_decode_as_intended() {
    let limits = AmfLimits::default();
    for (name, data) in amf0_seeds() {
        let ok = check::amf0_round_trip(&data, &limits).is_ok();
        assert_eq!(ok, name != "reserved_marker", "amf0 seed {name}");
    }
    for (name, data) in amf3_seeds() {
        let ok = check::amf3_round_trip(&data, &limits).is_ok();
        assert_eq!(ok, name != "externalizable", "amf3 seed {name}");
    }
}

#[test]
fn committed_corpus_matches_seeds() {
    for (dir, seeds) in [("amf0", amf0_seeds()), ("amf3", amf3_seeds())] {
        for (name, data) in seeds {
            let path = corpus_dir(dir).join(name);
            let committed = fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run the ignored write_seed_corpus test",
                    path.display()
                )
            });
            assert_eq!(committed, data, "{} is stale", path.display());
        }
    }
}

#[test]
#[ignore = "rewrites fuzz/corpus/amf0 and fuzz/corpus/amf3"]
fn write_seed_corpus() {
    for (dir, seeds) in [("amf0", amf0_seeds()), ("amf3", amf3_seeds())] {
        let dir = corpus_dir(dir);
        fs::create_dir_all(&dir).expect("corpus directory");
        for (name, data) in seeds {
            fs::write(dir.join(name), data).expect("corpus file written");
        }
    }
}
