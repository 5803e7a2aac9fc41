use proptest::prelude::*;

use super::*;

/// Every event of `stream` fed in one piece, with the file bodies joined.
fn events(stream: &[u8]) -> Result<Vec<ScpEvent>, ScpError> {
    let mut out = Vec::new();
    ScpSource::new()
        .feed(stream, &mut out)
        .map(|()| joined(out))
}

/// `feed` for a test that wants the events of one call.
fn fed(p: &mut ScpSource, data: &[u8]) -> Result<Vec<ScpEvent>, ScpError> {
    let mut out = Vec::new();
    p.feed(data, &mut out).map(|()| out)
}

/// Consecutive `Data` events merged (chunking splits them differently).
fn joined(events: Vec<ScpEvent>) -> Vec<ScpEvent> {
    let mut out: Vec<ScpEvent> = Vec::new();
    for e in events {
        match (out.last_mut(), e) {
            (Some(ScpEvent::Data(a)), ScpEvent::Data(b)) => a.extend(b),
            (_, e) => out.push(e),
        }
    }
    out
}

/// What OpenSSH 9.2's `scp -O -r -p` sent for a directory with two files (captured).
const RECURSIVE: &[u8] = b"T1700000000 0 1700000001 0\nD0755 0 dir\nT1700000002 0 1700000003 0\nC0644 3 b.txt\nabc\0C0600 0 empty\n\0D0700 0 sub\nC0644 5 with space.txt\nhello\0E\nE\n";

#[test]
fn a_recursive_copy_is_read_step_by_step() {
    use ScpEvent::*;
    assert_eq!(
        events(RECURSIVE).unwrap(),
        vec![
            Times {
                mtime: 1_700_000_000,
                atime: 1_700_000_001
            },
            Dir {
                mode: 0o755,
                name: "dir".into()
            },
            Times {
                mtime: 1_700_000_002,
                atime: 1_700_000_003
            },
            File {
                mode: 0o644,
                size: 3,
                name: "b.txt".into()
            },
            Data(b"abc".to_vec()),
            FileEnd { ok: true },
            File {
                mode: 0o600,
                size: 0,
                name: "empty".into()
            },
            FileEnd { ok: true },
            Dir {
                mode: 0o700,
                name: "sub".into()
            },
            File {
                mode: 0o644,
                size: 5,
                name: "with space.txt".into()
            },
            Data(b"hello".to_vec()),
            FileEnd { ok: true },
            DirEnd,
            DirEnd,
        ]
    );
}

#[test]
fn bodies_are_bytes_whatever_they_hold() {
    // A body holding newlines, NULs and what looks like control lines is data.
    let mut s = b"C0644 13 x\n".to_vec();
    s.extend(b"C0644 1 y\n\0\n\x02");
    s.push(0);
    assert_eq!(
        events(&s).unwrap(),
        vec![
            ScpEvent::File {
                mode: 0o644,
                size: 13,
                name: "x".into()
            },
            ScpEvent::Data(b"C0644 1 y\n\0\n\x02".to_vec()),
            ScpEvent::FileEnd { ok: true },
        ]
    );
    assert_eq!(
        events(b"\x01scp: /x: No such file or directory\n\x02fatal\n").unwrap(),
        vec![
            ScpEvent::Error {
                fatal: false,
                message: "scp: /x: No such file or directory".into()
            },
            ScpEvent::Error {
                fatal: true,
                message: "fatal".into()
            },
        ]
    );
}

#[test]
fn a_source_that_cannot_read_its_file_says_why_in_place_of_the_status() {
    assert_eq!(
        events(b"C0644 2 x\nab\x01scp: x: Input/output error\nC0644 0 y\n\0").unwrap(),
        vec![
            ScpEvent::File {
                mode: 0o644,
                size: 2,
                name: "x".into()
            },
            ScpEvent::Data(b"ab".to_vec()),
            ScpEvent::FileEnd { ok: false },
            ScpEvent::Error {
                fatal: false,
                message: "scp: x: Input/output error".into()
            },
            ScpEvent::File {
                mode: 0o644,
                size: 0,
                name: "y".into()
            },
            ScpEvent::FileEnd { ok: true },
        ]
    );
}

#[test]
fn what_is_not_scp_is_refused_and_stays_refused() {
    let table: &[(&[u8], &str)] = &[
        (b"C0644 3 ../evil\n", "unexpected filename"),
        (b"C0644 3 a/b\n", "unexpected filename"),
        (b"D0755 0 ..\n", "unexpected filename"),
        (b"C0644 3 .\n", "unexpected filename"),
        (b"C0644 3 \n", "unexpected filename"),
        (b"C644 3 x\n", "not an SCP control line"),
        (b"C0648 3 x\n", "not an SCP control line"),
        (b"C0644 -3 x\n", "not an SCP control line"),
        (
            b"C0644 99999999999999999999999 x\n",
            "not an SCP control line",
        ),
        (b"T1 0 2\n", "not an SCP control line"),
        (b"X\n", "not an SCP control line"),
        (b"\n", "not an SCP control line"),
        (b"E\n", "E without a directory"),
    ];
    for (stream, says) in table {
        let mut p = ScpSource::new();
        let err = fed(&mut p, stream).unwrap_err();
        assert!(err.to_string().contains(says), "{stream:?}: {err}");
        assert!(
            fed(&mut p, b"C0644 1 ok\n").is_err(),
            "{stream:?}: stays refused"
        );
    }
    let long = vec![b'C'; MAX_LINE + 10];
    assert_eq!(
        fed(&mut ScpSource::new(), &long).unwrap_err(),
        ScpError::LineTooLong
    );
}

#[test]
fn what_came_before_an_error_is_kept() {
    let mut out = Vec::new();
    let err = ScpSource::new().feed(b"C0644 1 a\nx\0C0644 1 ../b\n", &mut out);
    assert!(err.is_err());
    assert_eq!(out.len(), 3, "{out:?}");
}

#[test]
fn the_source_knows_where_it_is() {
    let mut p = ScpSource::new();
    assert!(p.at_rest());
    fed(&mut p, b"D0755 0 d\nC0644 4 f\nab").unwrap();
    assert!(!p.at_rest());
    assert_eq!(p.depth(), 1);
    fed(&mut p, b"cd\0E\n").unwrap();
    assert!(p.at_rest());
    assert_eq!(p.depth(), 0);
}

proptest! {
    /// Any chunking gives the same events as one piece.
    #[test]
    fn chunking_changes_nothing(cuts in proptest::collection::vec(0usize..RECURSIVE.len(), 0..8)) {
        let mut cuts = cuts;
        cuts.sort();
        let mut p = ScpSource::new();
        let mut got = Vec::new();
        let mut last = 0;
        for c in cuts.into_iter().chain([RECURSIVE.len()]) {
            p.feed(&RECURSIVE[last..c], &mut got).unwrap();
            last = c;
        }
        prop_assert_eq!(joined(got), events(RECURSIVE).unwrap());
    }

    /// A file's body is reported exactly, whatever its bytes.
    #[test]
    fn a_body_comes_back_byte_for_byte(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut s = format!("C0600 {} f\n", body.len()).into_bytes();
        s.extend(&body);
        s.push(0);
        let got = events(&s).unwrap();
        let data: Vec<u8> = got.iter().filter_map(|e| match e { ScpEvent::Data(d) => Some(d.clone()), _ => None }).flatten().collect();
        prop_assert_eq!(data, body);
        prop_assert_eq!(got.last(), Some(&ScpEvent::FileEnd { ok: true }));
    }
}
