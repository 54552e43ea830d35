//! The summary's figures: counts and averages over the typed bodies of the entries one
//! partner (or the couple) shared, as JSON.

use serde_json::{json, Map, Value};

use super::model::Entry;
use crate::entry::{Body, Choice, Emotion, FeltAppreciated, Intimacy, Outcome, Reply, ShownBy, WouldHelp};
use crate::time::rfc3339;

fn counts(names: &[&'static str]) -> Map<String, Value> {
    names.iter().map(|n| (n.to_string(), json!(0))).collect()
}

fn bump(map: &mut Map<String, Value>, key: &str) {
    let n = map.get(key).and_then(Value::as_i64).unwrap_or(0);
    map.insert(key.to_string(), json!(n + 1));
}

fn average(values: &[i64]) -> Value {
    if values.is_empty() {
        Value::Null
    } else {
        let avg = values.iter().sum::<i64>() as f64 / values.len() as f64;
        json!((avg * 10.0).round() / 10.0)
    }
}

/// Figures for the entries of one writer (or of both, for the couple), out of `entries`
/// (the summary's, replies included: a request or setback counts as answered by any).
pub(crate) fn figures(entries: &[Entry], writer: Option<&str>) -> Value {
    let mine: Vec<&Entry> = entries
        .iter()
        .filter(|e| writer.is_none_or(|w| e.record.author_id == w))
        .collect();
    let replies_to = |id: &str| -> Vec<&Entry> {
        entries
            .iter()
            .filter(|r| r.record.reply_to.as_deref() == Some(id))
            .collect()
    };

    let (mut moods, mut mood_points, mut closeness, mut closeness_points) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut emotions = counts(Emotion::ALL);
    let mut felt = counts(FeltAppreciated::ALL);
    let mut balance = counts(&["more_closeness", "just_right", "more_space"]);
    let mut shown_by = counts(ShownBy::ALL);
    let mut would_help = counts(WouldHelp::ALL);
    let mut by_intimacy = counts(Intimacy::ALL);
    let mut outcomes = counts(Outcome::ALL);
    outcomes.insert("not_marked".into(), json!(0));
    let (mut check_ins, mut appreciations, mut requests, mut answered, mut options_chosen, mut lets_talk) =
        (0, 0, 0, 0, 0, 0);
    let (mut setbacks, mut setbacks_replied, mut how_hard, mut steps, mut replies) = (0, 0, Vec::new(), 0, 0);
    for e in &mine {
        let Some(body) = &e.body else { continue };
        match body {
            Body::CheckIn(c) => {
                check_ins += 1;
                let at = rfc3339(e.record.created_at);
                moods.push(c.mood);
                closeness.push(c.closeness);
                mood_points.push(json!({ "at": at, "value": c.mood, "author_id": e.record.author_id }));
                closeness_points.push(json!({ "at": at, "value": c.closeness, "author_id": e.record.author_id }));
                for em in &c.emotions {
                    bump(&mut emotions, em.as_str());
                }
                bump(&mut felt, c.felt_appreciated.as_str());
                bump(
                    &mut balance,
                    if c.closeness < 0 {
                        "more_closeness"
                    } else if c.closeness > 0 {
                        "more_space"
                    } else {
                        "just_right"
                    },
                );
            }
            Body::Appreciation(a) => {
                appreciations += 1;
                bump(&mut shown_by, a.shown_by.as_str());
            }
            Body::Request(_) => {
                requests += 1;
                let answers = replies_to(&e.record.id);
                if !answers.is_empty() {
                    answered += 1;
                }
                for r in answers {
                    match &r.body {
                        Some(Body::Reply(Reply {
                            choice: Some(Choice::NoneOfThese),
                            ..
                        })) => lets_talk += 1,
                        Some(Body::Reply(Reply {
                            choice: Some(Choice::Option(_)),
                            ..
                        })) => options_chosen += 1,
                        _ => {}
                    }
                }
            }
            Body::Setback(s) => {
                setbacks += 1;
                how_hard.push(s.how_hard);
                bump(&mut would_help, s.would_help.as_str());
                if !replies_to(&e.record.id).is_empty() {
                    setbacks_replied += 1;
                }
            }
            Body::SmallStep(s) => {
                steps += 1;
                bump(&mut by_intimacy, s.intimacy.as_str());
                bump(&mut outcomes, s.outcome.map_or("not_marked", Outcome::as_str));
            }
            Body::Reply(_) => replies += 1,
        }
    }
    emotions.retain(|_, v| v.as_i64() != Some(0));
    json!({
        "entries": mine.len(),
        "check_ins": check_ins,
        "mood": { "average": average(&moods), "points": mood_points },
        "emotions": emotions,
        "closeness": { "average": average(&closeness), "balance": balance, "points": closeness_points },
        "appreciation": { "given": appreciations, "shown_by": shown_by, "felt": felt },
        "requests": { "made": requests, "answered": answered, "option_chosen": options_chosen, "lets_talk": lets_talk },
        "setbacks": { "shared": setbacks, "replied_to": setbacks_replied, "average_how_hard": average(&how_hard), "would_help": would_help },
        "small_steps": { "total": steps, "by_intimacy": by_intimacy, "outcomes": outcomes },
        "replies": replies,
    })
}
