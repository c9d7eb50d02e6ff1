//! A test-only ISOBMFF box walker: checks that every size is consistent (each box fits its
//! parent exactly) and exposes the tree for assertions.

/// Container boxes whose payload is only child boxes.
const CONTAINERS: &[&[u8; 4]] = &[
    b"moov", b"trak", b"mdia", b"minf", b"dinf", b"stbl", b"mvex", b"moof", b"traf",
];

#[derive(Debug, Clone)]
pub(crate) struct Bx {
    pub fourcc: [u8; 4],
    pub payload: Vec<u8>,
    children: Vec<Bx>,
}

impl Bx {
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.fourcc).into_owned()
    }

    pub fn children(&self) -> &[Bx] {
        &self.children
    }
}

/// Parses a sequence of boxes filling `data` exactly; panics on any inconsistency.
pub(crate) fn parse_boxes(data: &[u8]) -> Vec<Bx> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        assert!(data.len() - pos >= 8, "truncated box header at {pos}");
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        assert!(size >= 8, "box size {size} < 8 at {pos}");
        assert!(
            pos + size <= data.len(),
            "box at {pos} of size {size} overruns {}",
            data.len()
        );
        let mut fourcc = [0u8; 4];
        fourcc.copy_from_slice(&data[pos + 4..pos + 8]);
        let payload = data[pos + 8..pos + size].to_vec();
        let children = if CONTAINERS.contains(&&fourcc) {
            parse_boxes(&payload)
        } else if &fourcc == b"stsd" || &fourcc == b"dref" {
            parse_boxes(&payload[8..]) // version/flags + entry_count, then entries
        } else {
            Vec::new()
        };
        out.push(Bx {
            fourcc,
            payload,
            children,
        });
        pos += size;
    }
    out
}

/// The first box at a `/`-separated path, e.g. `moov/trak/tkhd`.
pub(crate) fn find<'a>(boxes: &'a [Bx], path: &str) -> Option<&'a Bx> {
    let (head, rest) = match path.split_once('/') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    boxes
        .iter()
        .filter(|b| b.name() == head)
        .find_map(|b| match rest {
            None => Some(b),
            Some(r) => find(&b.children, r),
        })
}

/// Every box at a path.
pub(crate) fn find_all<'a>(boxes: &'a [Bx], path: &str) -> Vec<&'a Bx> {
    let (head, rest) = match path.split_once('/') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let mut out = Vec::new();
    for b in boxes.iter().filter(|b| b.name() == head) {
        match rest {
            None => out.push(b),
            Some(r) => out.extend(find_all(&b.children, r)),
        }
    }
    out
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

pub(crate) fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}
