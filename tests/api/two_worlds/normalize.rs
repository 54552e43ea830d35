//! What an observer cannot tie to anything: ids and times.
//!
//! Every UUID becomes `#N`, N being the order of its first appearance in that observer's
//! transcript, so the same id reads the same everywhere and a new id shows where it first
//! appears. Every RFC 3339 time becomes `<t>`. Cursors, counts and every other number are
//! left as they are, to be compared literally.

use std::collections::HashMap;

/// Normalizes one observer's transcript, line by line, with one id numbering for all of it.
pub fn transcript(lines: &[String]) -> Vec<String> {
    let mut ids = HashMap::new();
    lines.iter().map(|l| line(l, &mut ids)).collect()
}

fn line(s: &str, ids: &mut HashMap<String, usize>) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if let Some(n) = uuid_at(b, i) {
            let id = s[i..i + n].to_ascii_lowercase();
            let next = ids.len();
            let k = *ids.entry(id).or_insert(next);
            out.push_str(&format!("#{k}"));
            i += n;
        } else if let Some(n) = time_at(b, i) {
            out.push_str("<t>");
            i += n;
        } else {
            let c = s[i..].chars().next().expect("a char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Two long lines cut down to where they first differ (with some context), whole if short.
pub fn where_they_differ(a: &str, b: &str) -> (String, String) {
    const CONTEXT: usize = 150;
    if a.len().max(b.len()) <= 3 * CONTEXT {
        return (a.to_string(), b.to_string());
    }
    let i = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let cut = |s: &str| {
        let mut from = i.saturating_sub(CONTEXT);
        while !s.is_char_boundary(from) {
            from -= 1;
        }
        let mut to = (i + CONTEXT).min(s.len());
        while !s.is_char_boundary(to) {
            to += 1;
        }
        let head = s.find(" -> ").map_or("", |k| &s[..k]);
        format!("{head} -> (at byte {i}) …{}…", &s[from..to])
    };
    (cut(a), cut(b))
}

fn hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn digit(c: u8) -> bool {
    c.is_ascii_digit()
}

/// Matches `pattern` at `i`: `h` a hex digit, `d` a decimal digit, anything else itself.
fn shape(b: &[u8], i: usize, pattern: &str) -> bool {
    let p = pattern.as_bytes();
    b.len() >= i + p.len()
        && p.iter().zip(&b[i..]).all(|(&p, &c)| match p {
            b'h' => hex(c),
            b'd' => digit(c),
            _ => p == c,
        })
}

/// The length of the UUID starting at `i`, if one does (and is not part of a longer word).
fn uuid_at(b: &[u8], i: usize) -> Option<usize> {
    const UUID: &str = "hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh";
    let before_ok = i == 0 || !hex(b[i - 1]);
    let after_ok = b.get(i + UUID.len()).is_none_or(|&c| !hex(c));
    (before_ok && after_ok && shape(b, i, UUID)).then_some(UUID.len())
}

/// The length of the RFC 3339 time starting at `i` (`2026-11-25T10:00:00.000Z`, with any
/// number of fraction digits and `Z` or an offset), if one does.
fn time_at(b: &[u8], i: usize) -> Option<usize> {
    if (i > 0 && digit(b[i - 1])) || !shape(b, i, "dddd-dd-ddTdd:dd:dd") {
        return None;
    }
    let mut j = i + 19;
    if b.get(j) == Some(&b'.') {
        j += 1;
        while b.get(j).is_some_and(|&c| digit(c)) {
            j += 1;
        }
    }
    match b.get(j) {
        Some(b'Z') => Some(j + 1 - i),
        Some(b'+' | b'-') if shape(b, j + 1, "dd:dd") => Some(j + 6 - i),
        _ => None,
    }
}

#[test]
fn ids_and_times_are_renamed_and_numbers_kept() {
    let lines = vec![
        r#"{"id":"01A2128E-49fc-76f9-98f4-4474e54c9e57","at":"2026-11-25T11:54:04.668Z","seq":15}"#.to_string(),
        r#"x,8228236a-a088-4c58-9e3e-b94b3ae7e6d1,01a2128e-49fc-76f9-98f4-4474e54c9e57,2026-11-25T11:54:04+01:00,42"#
            .to_string(),
        "a-8228236a-a088-4c58-9e3e-b94b3ae7e6d1f 2026-11-25 12345678-1234 b-8228236a-a088-4c58-9e3e-b94b3ae7e6d1@x"
            .to_string(),
    ];
    assert_eq!(
        transcript(&lines),
        vec![
            r##"{"id":"#0","at":"<t>","seq":15}"##,
            "x,#1,#0,<t>,42",
            "a-8228236a-a088-4c58-9e3e-b94b3ae7e6d1f 2026-11-25 12345678-1234 b-#1@x",
        ]
    );
}
