//! From drawn operations to the two worlds' steps.
//!
//! The raw operations are replayed on a small model (who wrote what, what is shared with
//! whom, what is deleted) so that each becomes a concrete, valid step on a named entry,
//! the same in both worlds; then each hidden group is placed, and kept only if the target
//! observer may not see it.

use std::fmt;

use super::plan::*;

/// What the model knows of an entry of the shared history.
#[derive(Clone)]
struct Ent {
    author: usize,
    kind: usize,
    reply: bool,
    partner: bool,
    therapist: bool,
    deleted: bool,
    /// Was ever shared with the partner.
    was_shared: bool,
}

pub struct Plan {
    /// Dr Lee has both approvals before the first step.
    pub active: bool,
    pub first: Vec<Step>,
    /// The second world's steps; `true` marks a hidden one.
    pub second: Vec<(Step, bool)>,
    /// The observers every hidden action is hidden from.
    pub compared: Vec<usize>,
    pub hidden_entries: usize,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.compared.iter().map(|&o| NAMES[o]).collect();
        writeln!(
            f,
            "therapist active from the start: {}; compared: {names:?}",
            self.active
        )?;
        for (i, (step, hidden)) in self.second.iter().enumerate() {
            writeln!(f, "  {i:>2}. {}{step}", if *hidden { "[hidden] " } else { "" })?;
        }
        Ok(())
    }
}

fn nth<T>(mut candidates: impl Iterator<Item = T>, pick: usize, len: usize) -> Option<T> {
    (len > 0).then(|| candidates.nth(pick % len)).flatten()
}

/// Turns the drawn operations into the two worlds' steps.
pub fn resolve(raw: &RawCase) -> Plan {
    let mut m: Vec<Ent> = Vec::new();
    let mut base = Vec::new();
    // The model before each step of `base` (and after the last).
    let mut states = Vec::new();
    for op in raw.ops.iter().flat_map(Raw::expand) {
        let op = &op;
        let before = m.clone();
        let mine = |m: &[Ent], w: usize| -> Vec<usize> {
            (0..m.len()).filter(|&i| m[i].author == w && !m[i].deleted).collect()
        };
        let step = match *op {
            Raw::Create(who, kind) => {
                m.push(Ent {
                    author: who,
                    kind,
                    reply: false,
                    partner: false,
                    therapist: false,
                    deleted: false,
                    was_shared: false,
                });
                Some(Step::Create {
                    who,
                    e: E::Base(m.len() - 1),
                    kind,
                })
            }
            Raw::Share(who, pick, scopes) | Raw::Withdraw(who, pick, scopes) => {
                let c = mine(&m, who);
                nth(c.iter().copied(), pick, c.len()).map(|i| {
                    let on = matches!(op, Raw::Share(..));
                    if scopes != Scopes::Therapist {
                        m[i].partner = on;
                        m[i].was_shared |= on;
                    }
                    if scopes != Scopes::Partner {
                        m[i].therapist = on;
                    }
                    match on {
                        true => Step::Share {
                            who,
                            e: E::Base(i),
                            scopes,
                        },
                        false => Step::Withdraw {
                            who,
                            e: E::Base(i),
                            scopes,
                        },
                    }
                })
            }
            Raw::Reply(who, pick) => {
                let c: Vec<usize> = mine(&m, partner_of(who))
                    .into_iter()
                    .filter(|&i| m[i].partner && !m[i].reply)
                    .collect();
                nth(c.iter().copied(), pick, c.len()).map(|to| {
                    let to_kind = m[to].kind;
                    m.push(Ent {
                        author: who,
                        kind: to_kind,
                        reply: true,
                        partner: true,
                        therapist: false,
                        deleted: false,
                        was_shared: true,
                    });
                    Step::Reply {
                        who,
                        e: E::Base(m.len() - 1),
                        to: E::Base(to),
                        to_kind,
                    }
                })
            }
            Raw::Delete(who, pick) => {
                let c = mine(&m, who);
                nth(c.iter().copied(), pick, c.len()).map(|i| {
                    m[i].deleted = true;
                    Step::Delete { who, e: E::Base(i) }
                })
            }
            Raw::Outcome(who, pick, outcome) => {
                let c: Vec<usize> = mine(&m, who)
                    .into_iter()
                    .filter(|&i| m[i].kind == SMALL_STEP && !m[i].reply)
                    .collect();
                nth(c.iter().copied(), pick, c.len()).map(|i| Step::Outcome {
                    who,
                    e: E::Base(i),
                    outcome,
                })
            }
            Raw::Therapist(who, act) => Some(Step::Therapist { who, act }),
            Raw::Look(who, how, wide) => Some(Step::Look { who, how, wide }),
            Raw::Glimpse(..) => unreachable!("expanded"),
        };
        if let Some(step) = step {
            states.push(before);
            base.push(step);
        }
    }
    states.push(m.clone());
    let len = base.len();

    // Hidden groups, kept only if hidden from the target observer.
    let mut hidden: Vec<(usize, Step)> = Vec::new();
    let mut compared: Vec<usize> = (0..PEOPLE).collect();
    let mut next_hidden = 0;
    for &(ref secret, at, spread) in &raw.secrets {
        let mut p = at % (len + 1);
        // Flashing an entry of the shared history: one of the couple's not shared with those
        // scopes, preferably one the partner may have seen (from the first place on where
        // there is one); its writer does it.
        let flashed = match *secret {
            Secret::Flash {
                who,
                target: Target::Base(pick),
                scopes,
                ..
            } => {
                let free = |st: &[Ent], i: usize| {
                    let x = &st[i];
                    x.author / 2 == who / 2
                        && !x.deleted
                        && (scopes == Scopes::Therapist || !x.partner)
                        && (scopes == Scopes::Partner || !x.therapist)
                };
                let seen = |q: usize| (0..states[q].len()).any(|i| free(&states[q], i) && states[q][i].was_shared);
                if let Some(q) = (p..=len).chain(0..p).find(|&q| seen(q)) {
                    p = q;
                }
                let st = &states[p];
                let mut c: Vec<usize> = (0..st.len()).filter(|&i| free(st, i)).collect();
                if c.iter().any(|&i| st[i].was_shared) {
                    c.retain(|&i| st[i].was_shared);
                }
                match nth(c.iter().copied(), pick, c.len()) {
                    Some(i) => Some(i),
                    None => continue,
                }
            }
            _ => None,
        };
        let st = &states[p];
        let actor = match (flashed, secret) {
            (Some(i), _) => st[i].author,
            (None, Secret::Draft { who, .. } | Secret::Flash { who, .. })
            | (None, Secret::Keep { who, .. } | Secret::Reply { who, .. }) => *who,
        };
        let hidden_from = secret.hidden_from(actor);
        if !hidden_from.contains(&raw.target) {
            continue;
        }
        // The next look by someone else: a withdrawal must come before it.
        let deadline = |who: usize| {
            (p..len)
                .find(|&q| matches!(base[q], Step::Look { who: o, .. } if o != who))
                .unwrap_or(len)
        };
        let later = |who: usize| (p + spread).min(deadline(who));
        let mut fresh = || {
            next_hidden += 1;
            E::Hidden(next_hidden - 1)
        };
        let steps: Vec<(usize, Step)> = match *secret {
            Secret::Draft { who, kind, then } => {
                let e = fresh();
                let mut v = vec![(p, Step::Create { who, e, kind })];
                match then {
                    1 if kind == SMALL_STEP => v.push((p + spread.min(len - p), Step::Outcome { who, e, outcome: 1 })),
                    2 => v.push((p + spread.min(len - p), Step::Delete { who, e })),
                    _ => {}
                }
                v
            }
            Secret::Flash {
                who,
                target: Target::Fresh(kind),
                scopes,
                delete,
            } => {
                let e = fresh();
                let end = match delete {
                    true => Step::Delete { who, e },
                    false => Step::Withdraw { who, e, scopes },
                };
                vec![
                    (p, Step::Create { who, e, kind }),
                    (p, Step::Share { who, e, scopes }),
                    (later(who), end),
                ]
            }
            Secret::Flash {
                target: Target::Base(_),
                scopes,
                ..
            } => {
                let e = E::Base(flashed.unwrap_or_default());
                vec![
                    (p, Step::Share { who: actor, e, scopes }),
                    (p, Step::Withdraw { who: actor, e, scopes }),
                ]
            }
            Secret::Keep { who, kind, therapist } => {
                let e = fresh();
                let scopes = if therapist { Scopes::Therapist } else { Scopes::Partner };
                vec![(p, Step::Create { who, e, kind }), (p, Step::Share { who, e, scopes })]
            }
            Secret::Reply { who, parent, therapist } => {
                let writer = partner_of(who);
                let mut v = Vec::new();
                let (to, to_kind) = match parent {
                    Target::Fresh(kind) => {
                        let to = fresh();
                        v.push((
                            p,
                            Step::Create {
                                who: writer,
                                e: to,
                                kind,
                            },
                        ));
                        v.push((
                            p,
                            Step::Share {
                                who: writer,
                                e: to,
                                scopes: Scopes::Partner,
                            },
                        ));
                        (to, kind)
                    }
                    Target::Base(pick) => {
                        // Never shared with the therapist, from here to the end.
                        let ok = |i: usize| {
                            let x = &st[i];
                            x.author == writer
                                && x.partner
                                && !x.reply
                                && !x.deleted
                                && states[p..].iter().all(|s| !s[i].therapist)
                        };
                        let c: Vec<usize> = (0..st.len()).filter(|&i| ok(i)).collect();
                        match nth(c.iter().copied(), pick, c.len()) {
                            Some(i) => (E::Base(i), st[i].kind),
                            None => continue,
                        }
                    }
                };
                let e = fresh();
                v.push((p, Step::Reply { who, e, to, to_kind }));
                if therapist {
                    v.push((
                        p,
                        Step::Share {
                            who,
                            e,
                            scopes: Scopes::Therapist,
                        },
                    ));
                }
                v
            }
        };
        compared.retain(|o| hidden_from.contains(o));
        hidden.extend(steps);
    }

    // Everyone compared looks at the end, everywhere.
    let finals = compared.iter().map(|&who| Step::Look {
        who,
        how: Channel::Both(2),
        wide: true,
    });
    let mut second = Vec::new();
    for (q, step) in base.iter().enumerate().map(|(q, s)| (q, Some(s))).chain([(len, None)]) {
        second.extend(hidden.iter().filter(|(at, _)| *at == q).map(|(_, s)| (s.clone(), true)));
        second.extend(step.map(|s| (s.clone(), false)));
    }
    second.extend(finals.clone().map(|s| (s, false)));
    let first = base.into_iter().chain(finals).collect();
    Plan {
        active: raw.active,
        first,
        second,
        compared,
        hidden_entries: next_hidden,
    }
}
