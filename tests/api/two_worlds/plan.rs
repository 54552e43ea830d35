//! The two histories of a case: a random shared history that both worlds live, and
//! hidden actions that only the second world adds, each hidden from a known set of
//! observers.
//!
//! proptest draws raw operations with loose `pick`s; `resolve` turns them into steps.

use std::fmt;

use proptest::prelude::*;

pub const A: usize = 0;
pub const B: usize = 1;
pub const C: usize = 2;
pub const D: usize = 3;
pub const T: usize = 4;
pub const S: usize = 5;
pub const N: usize = 6;
pub const PEOPLE: usize = 7;
/// Couple 1 is Ana and Ben (Dr Lee may become their therapist), couple 2 Cat and Dan; Sam
/// is a partner account in no couple; the anonymous caller has no session.
pub const NAMES: [&str; PEOPLE] = ["Ana", "Ben", "Cat", "Dan", "Dr Lee", "Sam", "anonymous"];
pub const KINDS: [&str; 5] = ["check_in", "appreciation", "request", "setback", "small_step"];
pub const SMALL_STEP: usize = 4;
pub const OUTCOMES: [&str; 3] = ["tried", "went_well", "was_hard"];

/// The other partner of a partner (Ana and Ben, Cat and Dan).
pub fn partner_of(p: usize) -> usize {
    p ^ 1
}

/// An entry: the n-th of the shared history, or the n-th that only the second world has.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum E {
    Base(usize),
    Hidden(usize),
}

impl fmt::Debug for E {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            E::Base(i) => write!(f, "e{i}"),
            E::Hidden(i) => write!(f, "h{i}"),
        }
    }
}

impl E {
    /// A number unique to the entry, which its body carries (so every entry differs).
    pub fn serial(self) -> usize {
        match self {
            E::Base(i) => i,
            E::Hidden(i) => 100 + i,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scopes {
    Partner,
    Therapist,
    Both,
}

impl Scopes {
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Scopes::Partner => &["partner"],
            Scopes::Therapist => &["therapist"],
            Scopes::Both => &["partner", "therapist"],
        }
    }
}

/// How an observer reads its event stream when it looks.
#[derive(Clone, Copy, Debug)]
pub enum Channel {
    /// `GET /api/events` pages of this `limit`.
    Http(i64),
    /// A websocket resuming at the cursor.
    Ws,
    /// The websocket, then the same stretch again over HTTP.
    Both(i64),
}

#[derive(Clone, Copy, Debug)]
pub enum Act {
    Propose,
    Approve,
    Revoke,
}

#[derive(Clone, Debug)]
pub enum Step {
    Create {
        who: usize,
        e: E,
        kind: usize,
    },
    Reply {
        who: usize,
        e: E,
        to: E,
        to_kind: usize,
    },
    Share {
        who: usize,
        e: E,
        scopes: Scopes,
    },
    Withdraw {
        who: usize,
        e: E,
        scopes: Scopes,
    },
    Delete {
        who: usize,
        e: E,
    },
    Outcome {
        who: usize,
        e: E,
        outcome: usize,
    },
    Therapist {
        who: usize,
        act: Act,
    },
    /// `wide`: besides the stream, every other read (lists, single entries, summaries).
    Look {
        who: usize,
        how: Channel,
        wide: bool,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Create { who, e, kind } => write!(f, "{} creates {e:?} ({})", NAMES[*who], KINDS[*kind]),
            Step::Reply { who, e, to, .. } => write!(f, "{} replies {e:?} to {to:?}", NAMES[*who]),
            Step::Share { who, e, scopes } => write!(f, "{} shares {e:?} {:?}", NAMES[*who], scopes.names()),
            Step::Withdraw { who, e, scopes } => write!(f, "{} withdraws {e:?} {:?}", NAMES[*who], scopes.names()),
            Step::Delete { who, e } => write!(f, "{} deletes {e:?}", NAMES[*who]),
            Step::Outcome { who, e, outcome } => write!(f, "{} marks {e:?} {}", NAMES[*who], OUTCOMES[*outcome]),
            Step::Therapist { who, act } => write!(f, "{} therapist {act:?}", NAMES[*who]),
            Step::Look { who, how, wide } => {
                write!(
                    f,
                    "{} looks via {how:?}{}",
                    NAMES[*who],
                    if *wide { ", everywhere" } else { "" }
                )
            }
        }
    }
}

/// A shared-history operation as drawn; `pick` chooses among the candidates then.
#[derive(Clone, Debug)]
pub enum Raw {
    Create(usize, usize),
    Share(usize, usize, Scopes),
    Withdraw(usize, usize, Scopes),
    Reply(usize, usize),
    Delete(usize, usize),
    Outcome(usize, usize, usize),
    Therapist(usize, Act),
    Look(usize, Channel, bool),
    /// An entry shared with the partner, who looks, then withdrawn: what they saw.
    Glimpse(usize, usize, Channel),
}

impl Raw {
    pub fn expand(&self) -> Vec<Raw> {
        match *self {
            // The same pick chooses the same entry: sharing changes no one's candidates.
            Raw::Glimpse(who, pick, how) => vec![
                Raw::Share(who, pick, Scopes::Partner),
                Raw::Look(partner_of(who), how, false),
                Raw::Withdraw(who, pick, Scopes::Partner),
            ],
            _ => vec![self.clone()],
        }
    }
}

/// The entry a hidden action works on: a fresh one, or one of the shared history.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    Fresh(usize),
    Base(usize),
}

/// A group of hidden actions, by `who`.
#[derive(Clone, Debug)]
pub enum Secret {
    /// A draft; a small step may get an outcome later, or the draft is deleted later.
    Draft { who: usize, kind: usize, then: u8 },
    /// Shared with `scopes`, then withdrawn (or a fresh one deleted) before anyone else
    /// looks. On an entry of the shared history not shared with those scopes, at once.
    Flash {
        who: usize,
        target: Target,
        scopes: Scopes,
        delete: bool,
    },
    /// A fresh entry shared with one scope (partner or therapist), and left shared.
    Keep { who: usize, kind: usize, therapist: bool },
    /// A reply to an entry the partner shared (a fresh one, or one of the shared history
    /// never shared with the therapist); `therapist`: the reply is shared with the
    /// therapist too, which the summary leaves out (its parent is not in it).
    Reply {
        who: usize,
        parent: Target,
        therapist: bool,
    },
}

impl Secret {
    /// The observers this group is hidden from, `who` doing it.
    pub fn hidden_from(&self, who: usize) -> Vec<usize> {
        let also = match *self {
            Secret::Draft { .. } | Secret::Flash { .. } => None,
            Secret::Keep { therapist: false, .. } | Secret::Reply { .. } => Some(partner_of(who)),
            Secret::Keep { therapist: true, .. } => (who < C).then_some(T),
        };
        (0..PEOPLE).filter(|&o| o != who && Some(o) != also).collect()
    }
}

#[derive(Clone, Debug)]
pub struct RawCase {
    pub active: bool,
    pub ops: Vec<Raw>,
    pub target: usize,
    /// Each group with where it goes (mod the history's length + 1) and how far its
    /// last action may trail its first.
    pub secrets: Vec<(Secret, usize, usize)>,
}

fn who() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0usize..2, 1 => 2usize..4]
}

fn scopes() -> impl Strategy<Value = Scopes> {
    prop_oneof![Just(Scopes::Partner), Just(Scopes::Therapist), Just(Scopes::Both)]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![1 => (0usize..5).prop_map(Target::Fresh), 2 => (0usize..16).prop_map(Target::Base)]
}

fn raw() -> impl Strategy<Value = Raw> {
    let channel = prop_oneof![
        (1i64..=3).prop_map(Channel::Http),
        Just(Channel::Ws),
        (1i64..=3).prop_map(Channel::Both)
    ];
    let act = prop_oneof![Just(Act::Propose), Just(Act::Approve), Just(Act::Revoke)];
    let observer =
        prop_oneof![3 => Just(A), 4 => Just(B), 3 => Just(T), 1 => Just(C), 1 => Just(D), 1 => Just(S), 1 => Just(N)];
    prop_oneof![
        4 => (who(), 0usize..5).prop_map(|(w, k)| Raw::Create(w, k)),
        5 => (who(), 0usize..16, scopes()).prop_map(|(w, p, s)| Raw::Share(w, p, s)),
        3 => (who(), 0usize..16, scopes()).prop_map(|(w, p, s)| Raw::Withdraw(w, p, s)),
        2 => (who(), 0usize..16).prop_map(|(w, p)| Raw::Reply(w, p)),
        1 => (who(), 0usize..16).prop_map(|(w, p)| Raw::Delete(w, p)),
        1 => (who(), 0usize..16, 0usize..3).prop_map(|(w, p, o)| Raw::Outcome(w, p, o)),
        2 => (0usize..2, act).prop_map(|(w, a)| Raw::Therapist(w, a)),
        3 => (who(), 0usize..16, channel.clone()).prop_map(|(w, p, c)| Raw::Glimpse(w, p, c)),
        5 => (observer, channel, any::<bool>()).prop_map(|(w, c, wide)| Raw::Look(w, c, wide)),
    ]
}

fn secret() -> impl Strategy<Value = Secret> {
    prop_oneof![
        2 => (who(), 0usize..5, 0u8..3).prop_map(|(who, kind, then)| Secret::Draft { who, kind, then }),
        5 => (who(), target(), scopes(), any::<bool>())
            .prop_map(|(who, target, scopes, delete)| Secret::Flash { who, target, scopes, delete }),
        2 => (who(), 0usize..5, any::<bool>()).prop_map(|(who, kind, therapist)| Secret::Keep { who, kind, therapist }),
        2 => (who(), target(), any::<bool>()).prop_map(|(who, parent, therapist)| Secret::Reply { who, parent, therapist }),
    ]
}

pub fn case() -> impl Strategy<Value = RawCase> {
    let target =
        prop_oneof![2 => Just(A), 3 => Just(B), 3 => Just(T), 1 => Just(C), 1 => Just(D), 1 => Just(S), 1 => Just(N)];
    (
        any::<bool>(),
        prop::collection::vec(raw(), 4..=12),
        target,
        // Now and then none: the same history twice, compared for everyone (the harness
        // itself must not tell worlds apart).
        prop_oneof![1 => Just(Vec::new()), 7 => prop::collection::vec((secret(), 0usize..64, 0usize..4), 1..=3)],
    )
        .prop_map(|(active, ops, target, secrets)| RawCase {
            active,
            ops,
            target,
            secrets,
        })
}
