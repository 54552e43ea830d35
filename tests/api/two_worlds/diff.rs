//! Telling a failure: where two transcripts part, and what else differs beyond cursors.

use super::normalize::where_they_differ;

/// The report for an observer whose transcripts differ, or `None` if they are the same.
pub fn report(who: &str, a: &[String], b: &[String]) -> Option<String> {
    let i = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i))?;
    let none = String::from("(nothing)");
    let (x, y) = where_they_differ(a.get(i).unwrap_or(&none), b.get(i).unwrap_or(&none));
    let mut out = format!(
        "{who} tells the worlds apart at line {i} of their transcript:\n  without the hidden actions: {x}\n  with the hidden actions:    {y}\n"
    );
    // Cursors move with almost any difference; what else differs tells more.
    let (ma, mb): (Vec<String>, Vec<String>) = (
        a.iter().map(|l| mask_cursors(l)).collect(),
        b.iter().map(|l| mask_cursors(l)).collect(),
    );
    let changes = lines_diff(&ma, &mb);
    if changes.is_empty() {
        out += "  with head, next_since, since and seq masked, the transcripts are the same\n";
    } else {
        out += "  with head, next_since, since and seq masked, still (- without, + with the hidden actions):\n";
        for line in changes.iter().take(12) {
            out += &format!("    {line}\n");
        }
        if changes.len() > 12 {
            out += &format!("    … {} more\n", changes.len() - 12);
        }
    }
    Some(out)
}

/// Replaces the numbers of `"head":`, `"next_since":`, `"since":`, `"seq":` and `since=`.
pub fn mask_cursors(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    'outer: while !rest.is_empty() {
        for key in ["\"head\":", "\"next_since\":", "\"since\":", "\"seq\":", "since="] {
            if let Some(tail) = rest.strip_prefix(key) {
                let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
                if digits > 0 {
                    out.push_str(key);
                    out.push('N');
                    rest = &tail[digits..];
                    continue 'outer;
                }
            }
        }
        let c = rest.chars().next().expect("a char");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A line diff (longest common subsequence): removed lines as `- `, added as `+ `, and a
/// removed line followed by an added one as a change, cut down to where they differ.
fn lines_diff(a: &[String], b: &[String]) -> Vec<String> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            (i, j) = (i + 1, j + 1);
        } else if i < n && j < m && lcs[i + 1][j + 1] == lcs[i][j] {
            // Both a removal and an addition are as good: a changed line.
            let (x, y) = where_they_differ(&a[i], &b[j]);
            out.push(format!("- {x}"));
            out.push(format!("+ {y}"));
            (i, j) = (i + 1, j + 1);
        } else if j == m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", short(&a[i])));
            i += 1;
        } else {
            out.push(format!("+ {}", short(&b[j])));
            j += 1;
        }
    }
    out
}

fn short(line: &str) -> String {
    match line.char_indices().nth(400) {
        Some((k, _)) => format!("{}…", &line[..k]),
        None => line.to_string(),
    }
}

#[test]
fn cursors_are_masked_and_changes_paired() {
    assert_eq!(
        mask_cursors(r#"GET /api/events?since=12&limit=2 -> 200 {"head":3,"next_since":12,"seq":4,"x":5}"#),
        r#"GET /api/events?since=N&limit=2 -> 200 {"head":N,"next_since":N,"seq":N,"x":5}"#
    );
    let a: Vec<String> = ["same", "old", "gone", "end"].map(String::from).to_vec();
    let b: Vec<String> = ["same", "new", "end", "added"].map(String::from).to_vec();
    assert_eq!(lines_diff(&a, &b), ["- old", "+ new", "- gone", "+ added"]);
}
