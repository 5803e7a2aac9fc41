use proptest::prelude::*;

use super::*;
use crate::{CastWriter, Header};

/// A recording of `n` numbered lines, one every 10 ms, with a resize half way.
fn numbered(n: u64) -> Vec<u8> {
    let header = Header {
        cols: 120,
        rows: 5,
        term_type: None,
        timestamp: 1,
        title: None,
        command: None,
    };
    let mut w = CastWriter::new(Vec::new(), &header).unwrap();
    for i in 1..=n {
        let at = Duration::from_millis(i * 10);
        w.output(
            at,
            format!(
                "line {i} of a long recording, padded to weigh more bytes {:>20}\r\n",
                i * 7
            )
            .as_bytes(),
        )
        .unwrap();
        if i == n / 2 {
            w.resize(at, 130, 6).unwrap();
        }
        if i % 100 == 0 {
            w.input(at, b"x").unwrap();
        }
    }
    w.finish(Duration::from_millis(n * 10 + 5)).unwrap();
    w.into_inner()
}

fn screen_text(s: &Seeked) -> Vec<String> {
    let mut screen = Screen::new(s.cols, s.rows);
    screen.feed(s.screen.as_bytes());
    screen.text()
}

#[test]
fn a_seek_shows_the_screen_of_that_moment_and_stops_before_the_next_event() {
    let cast = numbered(60_000);
    let mut index = SeekIndex::with_spacing(1 << 18);
    let at = Duration::from_millis(200_004);
    let cold = seek(&mut &cast[..], &mut index, at).unwrap();
    assert!(cold.header.starts_with("{\"version\":3"), "{}", cold.header);
    assert_eq!((cold.cols, cold.rows), (120, 5));
    let text = screen_text(&cold);
    assert!(
        text.iter()
            .any(|l| l.starts_with("line 20000 of a long recording")),
        "{text:?}"
    );
    let next = String::from_utf8(cold.next.clone().unwrap()).unwrap();
    assert!(
        next.starts_with("[0.006000, \"o\", \"line 20001 "),
        "{next}"
    );
    assert!(!index.is_empty(), "keyframes were kept on the way");

    // The same seek from the index replays at most one keyframe's worth, with the same result.
    let mut stream = &cast[..];
    let warm = seek(&mut stream, &mut index, at).unwrap();
    assert_eq!(warm.next, cold.next);
    assert_eq!(screen_text(&warm), text);
    // The stream goes on right after `next`.
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stream, &mut rest).unwrap();
    assert!(
        rest.starts_with('[') && rest.contains("line 20010 "),
        "{}",
        &rest[..60]
    );
    assert!(
        !rest.contains("line 20001 "),
        "nothing before `next` is sent again"
    );
}

#[test]
fn after_the_resize_the_screen_has_the_new_size_and_past_the_end_there_is_no_next() {
    let cast = numbered(3_000);
    let mut index = SeekIndex::with_spacing(1 << 18);
    let end = seek(&mut &cast[..], &mut index, Duration::from_secs(3600)).unwrap();
    assert_eq!((end.cols, end.rows), (130, 6));
    assert_eq!(end.next, None);
    assert_eq!(end.at, Duration::from_millis(30_000), "the last event");
    assert!(
        screen_text(&end)
            .iter()
            .any(|l| l.starts_with("line 3000 of a long recording"))
    );
    let start = seek(&mut &cast[..], &mut index, Duration::ZERO).unwrap();
    assert!(screen_text(&start).iter().all(|l| l.is_empty()));
}

#[test]
fn a_stream_that_is_not_a_recording_is_an_error() {
    let mut index = SeekIndex::with_spacing(1 << 18);
    for bad in [&b""[..], b"\n\n", b"not json\n[0.1, \"o\", \"x\"]\n"] {
        assert!(seek(&mut &bad[..], &mut index, Duration::ZERO).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Wherever one seeks, the index changes how much is replayed, never what is shown.
    #[test]
    fn keyframes_never_change_what_a_seek_shows(ms in 0u64..400_000, warm_at in 0u64..400_000) {
        let cast = numbered(40_000);
        let mut index = SeekIndex::with_spacing(1 << 18);
        seek(&mut &cast[..], &mut index, Duration::from_millis(warm_at)).unwrap();
        let warm = seek(&mut &cast[..], &mut index, Duration::from_millis(ms)).unwrap();
        let cold = seek(&mut &cast[..], &mut SeekIndex::with_spacing(1 << 18), Duration::from_millis(ms)).unwrap();
        prop_assert_eq!(screen_text(&warm), screen_text(&cold));
        prop_assert_eq!(warm.next, cold.next);
        prop_assert_eq!(warm.at, cold.at);
    }
}

#[test]
fn markers_are_listed_with_their_times() {
    let header = Header {
        cols: 80,
        rows: 24,
        term_type: None,
        timestamp: 1,
        title: None,
        command: None,
    };
    let mut w = CastWriter::new(Vec::new(), &header).unwrap();
    w.output(Duration::from_millis(100), b"$ ").unwrap();
    w.marker(Duration::from_millis(1500), "command: ls")
        .unwrap();
    w.output(Duration::from_millis(1600), b"file\r\n").unwrap();
    w.marker(Duration::from_millis(2500), "locked by admin")
        .unwrap();
    w.finish(Duration::from_millis(3000)).unwrap();
    let cast = w.into_inner();
    let found = markers(&cast[..]).unwrap();
    assert_eq!(
        found,
        vec![
            (Duration::from_millis(1500), "command: ls".to_owned()),
            (Duration::from_millis(2500), "locked by admin".to_owned()),
        ]
    );
}

#[test]
fn markers_after_intervals_too_large_to_count_are_at_the_end_of_time() {
    let stream = b"[1e300, \"o\", \"x\"]\n[1e300, \"o\", \"x\"]\n[0.5, \"m\", \"late\"]\n";
    let found = markers(&stream[..]).unwrap();
    assert_eq!(
        found,
        vec![(Duration::from_micros(u64::MAX), "late".to_owned())]
    );
}

/// A seek through intervals that add up past any duration saturates as `markers` does
/// (a plain `+` panicked): a million intervals of the largest countable length.
#[test]
fn a_seek_through_intervals_too_large_to_add_saturates() {
    let mut stream = b"{\"version\":3,\"term\":{\"cols\":20,\"rows\":2}}\n".to_vec();
    let line = b"[99999999999999999999.0, \"m\", \"\"]\n";
    for _ in 0..1_000_001 {
        stream.extend_from_slice(line);
    }
    stream.extend_from_slice(b"[1.0, \"o\", \"end\"]\n");
    let mut index = SeekIndex::default();
    let s = seek(&mut &stream[..], &mut index, Duration::MAX).unwrap();
    assert_eq!(s.at, Duration::MAX);
    assert_eq!(s.next, None);
}
