//! The structured check-in vocabulary (docs/product.md; P1–P5 below are its principles), and its validation.
//!
//! Every closed list is a Rust enum so serde rejects unknown values with the list of
//! accepted ones; numeric ranges and text bounds are checked in `validate`, each error
//! naming the field (`body.mood`, `body.options[2]`, …).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::json::from_value;

/// Longest free-text note, in characters.
pub const MAX_NOTE: usize = 1000;
/// Longest short text (a request's subject, an option, a small step), in characters.
pub const MAX_SHORT: usize = 200;
/// How many named emotions one check-in may carry.
pub const MAX_EMOTIONS: usize = 3;

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }
        impl $name {
            pub const ALL: &'static [&'static str] = &[$($text),+];
            pub fn as_str(self) -> &'static str { match self { $(Self::$variant => $text),+ } }
        }
    };
}

vocabulary!(
    /// Entry kinds (the six of docs/product.md).
    Kind { CheckIn = "check_in", Appreciation = "appreciation", Request = "request", Setback = "setback", SmallStep = "small_step", Reply = "reply" }
);
vocabulary!(
    /// Named emotions (P4).
    Emotion {
        Calm = "calm", Hopeful = "hopeful", Grateful = "grateful", Loved = "loved", Content = "content",
        Relieved = "relieved", Joyful = "joyful", Anxious = "anxious", Overwhelmed = "overwhelmed",
        Lonely = "lonely", Crowded = "crowded", Hurt = "hurt", Frustrated = "frustrated", Sad = "sad",
        Ashamed = "ashamed", Unsure = "unsure", Tired = "tired", Angry = "angry",
    }
);
vocabulary!(
    /// "Did you feel appreciated?" (P2).
    FeltAppreciated { Yes = "yes", Somewhat = "somewhat", NotReally = "not_really", RatherNotSay = "rather_not_say" }
);
vocabulary!(
    /// "Ready to talk" (P4).
    ReadyToTalk { Now = "now", Later = "later", NotYet = "not_yet" }
);
vocabulary!(
    /// How an appreciation was shown (P2).
    ShownBy { Words = "words", TimeTogether = "time_together", Help = "help", Touch = "touch", Gift = "gift", Support = "support" }
);
vocabulary!(
    /// What would help after a setback (P3).
    WouldHelp { SomeSpace = "some_space", Reassurance = "reassurance", TalkLater = "talk_later", BeingClose = "being_close", NothingRightNow = "nothing_right_now" }
);
vocabulary!(
    /// Kinds of intimacy a small step works on.
    Intimacy { Intellectual = "intellectual", Emotional = "emotional", Experiential = "experiential", Physical = "physical", Spiritual = "spiritual" }
);
vocabulary!(
    /// How a small step went (P3: "was hard" is a valid, unpunished outcome).
    Outcome { Tried = "tried", WentWell = "went_well", WasHard = "was_hard" }
);
vocabulary!(
    /// Supportive replies to a setback (P3).
    Support { ThankYouForTellingMe = "thank_you_for_telling_me", ImHereWhenReady = "im_here_when_ready", TakeTheTimeYouNeed = "take_the_time_you_need" }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    /// 1 (low) to 5 (high).
    pub mood: i64,
    #[serde(default)]
    pub emotions: Vec<Emotion>,
    /// −2 "I'd like more closeness" … 0 "just right" … +2 "I need more space" (P5).
    pub closeness: i64,
    pub felt_appreciated: FeltAppreciated,
    pub ready_to_talk: ReadyToTalk,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Appreciation {
    pub text: String,
    pub shown_by: ShownBy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub about: String,
    /// 2–4 concrete options; "none of these, let's talk" is always implied (P1).
    pub options: Vec<String>,
    /// A calendar date, YYYY-MM-DD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_when: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setback {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what_happened: Option<String>,
    /// 1 (a little) to 5 (very).
    pub how_hard: i64,
    pub would_help: WouldHelp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmallStep {
    pub step: String,
    pub intimacy: Intimacy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

/// A reply's structured answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// Index (from 0) into the request's options.
    Option(i64),
    /// "None of these, let's talk" (P1).
    NoneOfThese,
    Support(Support),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    pub to: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A validated entry body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    CheckIn(CheckIn),
    Appreciation(Appreciation),
    Request(Request),
    Setback(Setback),
    SmallStep(SmallStep),
    Reply(Reply),
}

fn field(path: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid(path, message)
}

/// Trims `text` and checks it is non-empty (when required) and at most `max` characters.
fn text(path: &str, value: &mut String, max: usize) -> Result<(), ApiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(field(path, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(field(path, format!("must be at most {max} characters")));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(field(path, "must not contain control characters"));
    }
    *value = trimmed.to_string();
    Ok(())
}

/// Optional text: blank becomes absent.
fn optional_text(path: &str, value: &mut Option<String>, max: usize) -> Result<(), ApiError> {
    if let Some(v) = value {
        if v.trim().is_empty() {
            *value = None;
        } else {
            text(path, v, max)?;
        }
    }
    Ok(())
}

fn range(path: &str, value: i64, lo: i64, hi: i64) -> Result<(), ApiError> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(field(path, format!("must be between {lo} and {hi}")))
    }
}

impl Body {
    /// Parses and validates the body of an entry of `kind`.
    pub fn parse(kind: Kind, value: serde_json::Value) -> Result<Body, ApiError> {
        let mut body = match kind {
            Kind::CheckIn => Body::CheckIn(from_value("body", value)?),
            Kind::Appreciation => Body::Appreciation(from_value("body", value)?),
            Kind::Request => Body::Request(from_value("body", value)?),
            Kind::Setback => Body::Setback(from_value("body", value)?),
            Kind::SmallStep => Body::SmallStep(from_value("body", value)?),
            Kind::Reply => Body::Reply(from_value("body", value)?),
        };
        body.validate()?;
        Ok(body)
    }

    fn validate(&mut self) -> Result<(), ApiError> {
        match self {
            Body::CheckIn(c) => {
                range("body.mood", c.mood, 1, 5)?;
                range("body.closeness", c.closeness, -2, 2)?;
                if c.emotions.len() > MAX_EMOTIONS {
                    return Err(field("body.emotions", format!("name at most {MAX_EMOTIONS} emotions")));
                }
                for (i, e) in c.emotions.iter().enumerate() {
                    if c.emotions[..i].contains(e) {
                        return Err(field(&format!("body.emotions[{i}]"), "named twice"));
                    }
                }
                optional_text("body.note", &mut c.note, MAX_NOTE)
            }
            Body::Appreciation(a) => text("body.text", &mut a.text, MAX_NOTE),
            Body::Request(r) => {
                text("body.about", &mut r.about, MAX_SHORT)?;
                if !(2..=4).contains(&r.options.len()) {
                    return Err(field("body.options", "give 2 to 4 options"));
                }
                for i in 0..r.options.len() {
                    text(&format!("body.options[{i}]"), &mut r.options[i], MAX_SHORT)?;
                    if r.options[..i].iter().any(|o| o.eq_ignore_ascii_case(&r.options[i])) {
                        return Err(field(&format!("body.options[{i}]"), "repeats an earlier option"));
                    }
                }
                if let Some(d) = &r.by_when {
                    let format = time::macros::format_description!("[year]-[month]-[day]");
                    time::Date::parse(d, format)
                        .map_err(|_| field("body.by_when", "must be a date like 2026-12-31"))?;
                }
                Ok(())
            }
            Body::Setback(s) => {
                range("body.how_hard", s.how_hard, 1, 5)?;
                optional_text("body.what_happened", &mut s.what_happened, MAX_NOTE)
            }
            Body::SmallStep(s) => text("body.step", &mut s.step, MAX_SHORT),
            Body::Reply(r) => {
                optional_text("body.note", &mut r.note, MAX_NOTE)?;
                if r.choice.is_none() && r.note.is_none() {
                    return Err(field("body", "a reply needs a choice or a note"));
                }
                Ok(())
            }
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Body::CheckIn(_) => Kind::CheckIn,
            Body::Appreciation(_) => Kind::Appreciation,
            Body::Request(_) => Kind::Request,
            Body::Setback(_) => Kind::Setback,
            Body::SmallStep(_) => Kind::SmallStep,
            Body::Reply(_) => Kind::Reply,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let v = match self {
            Body::CheckIn(b) => serde_json::to_value(b),
            Body::Appreciation(b) => serde_json::to_value(b),
            Body::Request(b) => serde_json::to_value(b),
            Body::Setback(b) => serde_json::to_value(b),
            Body::SmallStep(b) => serde_json::to_value(b),
            Body::Reply(b) => serde_json::to_value(b),
        };
        v.expect("entry bodies always serialize")
    }

    /// Reads back a body as the store keeps it: the JSON `to_json` wrote for an entry of
    /// `kind` (its name, as in `EntryRecord::kind`). It was validated when written, so it is
    /// only deserialized, not validated (or trimmed) again. Fails on a body that no longer
    /// has its type's shape, such as a reply whose `to` was removed when the entry it
    /// answered went with its writer's account.
    pub fn from_stored(kind: &str, text: &str) -> Result<Body, serde_json::Error> {
        let kind: Kind = serde_json::from_value(serde_json::Value::String(kind.to_string()))?;
        Ok(match kind {
            Kind::CheckIn => Body::CheckIn(serde_json::from_str(text)?),
            Kind::Appreciation => Body::Appreciation(serde_json::from_str(text)?),
            Kind::Request => Body::Request(serde_json::from_str(text)?),
            Kind::Setback => Body::Setback(serde_json::from_str(text)?),
            Kind::SmallStep => Body::SmallStep(serde_json::from_str(text)?),
            Kind::Reply => Body::Reply(serde_json::from_str(text)?),
        })
    }
}

/// Checks a reply against the entry it answers (docs/protocol.md, replies).
pub fn check_reply(reply: &Reply, target_kind: Kind, target_body: &serde_json::Value) -> Result<(), ApiError> {
    match (target_kind, reply.choice) {
        (Kind::Reply, _) => Err(field("body.to", "a reply cannot be answered with a reply")),
        (Kind::Request, None) => Err(field("body.choice", "choose one of the options or \"none_of_these\"")),
        (Kind::Request, Some(Choice::Option(i))) => {
            let n = target_body
                .get("options")
                .and_then(|o| o.as_array())
                .map_or(0, |o| o.len()) as i64;
            range("body.choice.option", i, 0, n - 1)
        }
        (Kind::Request, Some(Choice::NoneOfThese)) => Ok(()),
        (Kind::Setback, Some(Choice::Support(_))) | (_, None) => Ok(()),
        (Kind::Request, Some(Choice::Support(_))) => Err(field(
            "body.choice",
            "a request is answered with an option or \"none_of_these\"",
        )),
        (Kind::Setback, Some(_)) => Err(field(
            "body.choice",
            "a setback is answered with a supportive choice or a note",
        )),
        (_, Some(_)) => Err(field(
            "body.choice",
            "only requests and setbacks take a choice; send a note",
        )),
    }
}

/// Every closed list, for clients (GET /api/vocabulary).
pub fn vocabulary() -> serde_json::Value {
    serde_json::json!({
        "kinds": Kind::ALL,
        "emotions": Emotion::ALL,
        "felt_appreciated": FeltAppreciated::ALL,
        "ready_to_talk": ReadyToTalk::ALL,
        "shown_by": ShownBy::ALL,
        "would_help": WouldHelp::ALL,
        "intimacy": Intimacy::ALL,
        "outcome": Outcome::ALL,
        "support": Support::ALL,
        "scopes": ["partner", "therapist"],
        "limits": { "note": MAX_NOTE, "short": MAX_SHORT, "emotions": MAX_EMOTIONS, "options": [2, 4], "mood": [1, 5], "closeness": [-2, 2], "how_hard": [1, 5] },
    })
}
