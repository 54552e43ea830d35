//! Live delivery: a hub of open websockets, and the loop each connection runs.
//!
//! The database holds every user's stream. A committed write wakes the open connections
//! of the users it concerns (on other instances through the backend's notifications);
//! a woken connection numbers the user's new changes (`Store::advance`: only what the
//! user may see now gets a position) and sends what follows its cursor, in order, from
//! the store. The store is the source of truth, and a slow reader only delays itself.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio::time::{timeout, Instant};

use crate::account::AuthUser;
use crate::commands::{self, Ack, Command};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{StreamEvent, StreamKind};

/// Largest message the server reads; bigger frames close the socket (1009).
pub const MAX_FRAME: usize = 64 * 1024;
/// Largest message the server acts on; bigger ones get a `too_large` error.
pub const MAX_MESSAGE: usize = 16 * 1024;
/// A send that cannot complete in this time means a stalled reader: drop it.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);
/// Positions read from the store per round while catching up.
const BATCH: i64 = 500;

type Sink = SplitSink<WebSocket, Message>;

async fn send(sink: &mut Sink, msg: Message) -> Result<(), ()> {
    match timeout(SEND_TIMEOUT, sink.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn send_json(sink: &mut Sink, value: &Value) -> Result<(), ()> {
    send(sink, Message::Text(Utf8Bytes::from(value.to_string()))).await
}

async fn close(sink: &mut Sink, code: u16, reason: &'static str) {
    let _ = send(
        sink,
        Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })),
    )
    .await;
}

fn error_message(request_id: Option<&str>, err: &ApiError) -> Value {
    json!({ "type": "error", "request_id": request_id, "status": err.status().as_u16(), "error": err.body() })
}

fn ack_message(request_id: &str, ack: &Ack) -> Value {
    json!({ "type": "ack", "request_id": request_id, "entry_id": ack.entry_id, "entry": ack.entry, "replayed": ack.replayed })
}

/// Renders stream positions for `user`, applying consent as it stands now: an entry
/// position whose entry the user may no longer see (withdrawn or deleted since it was
/// numbered) says `entry_removed`, like the removal's own position that follows it.
pub async fn render_events(state: &AppState, user: &str, events: &[StreamEvent]) -> Result<Vec<Value>, ApiError> {
    let mut couple: Option<Value> = None;
    let mut out = Vec::with_capacity(events.len());
    for ev in events {
        let removed = || json!({ "type": "event", "seq": ev.pos, "event": "entry_removed", "entry_id": ev.subject });
        let body = match ev.kind {
            StreamKind::Entry => match ev.entry.as_ref().and_then(|e| crate::consent::view_for(e, user)) {
                Some(entry) => json!({ "type": "event", "seq": ev.pos, "event": "entry", "entry": entry }),
                None => removed(),
            },
            StreamKind::EntryRemoved => removed(),
            StreamKind::Summary => {
                json!({ "type": "event", "seq": ev.pos, "event": "summary", "couple_id": ev.subject })
            }
            StreamKind::Couple => {
                if couple.is_none() {
                    couple = Some(crate::views::couple_json(
                        state.store.couple_of(user).await?.as_ref(),
                        user,
                    ));
                }
                json!({ "type": "event", "seq": ev.pos, "event": "couple", "couple": couple })
            }
        };
        out.push(body);
    }
    Ok(out)
}

/// Parses one client message into a command (the `type` field picks it).
fn parse_command(text: &str) -> (Option<String>, Result<Command, ApiError>) {
    let mut value: Value = match crate::json::parse_json(text.as_bytes()) {
        Ok(v) => v,
        Err(e) => return (None, Err(ApiError::BadRequest(format!("not valid JSON: {e}")))),
    };
    let Some(obj) = value.as_object_mut() else {
        return (None, Err(ApiError::BadRequest("a message is a JSON object".into())));
    };
    let request_id = obj.get("request_id").and_then(Value::as_str).map(str::to_string);
    let kind = obj.remove("type");
    let mut entry_id = || match obj.remove("entry_id") {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::invalid("entry_id", "must be a string")),
        None => Err(ApiError::invalid("entry_id", "missing")),
    };
    let command = match kind.as_ref().and_then(Value::as_str) {
        Some("create_entry") => crate::json::from_value("", value).map(Command::Create),
        Some("share") => entry_id().and_then(|id| Ok(Command::Share(id, crate::json::from_value("", value)?))),
        Some("withdraw") => entry_id().and_then(|id| Ok(Command::Withdraw(id, crate::json::from_value("", value)?))),
        Some("set_outcome") => {
            entry_id().and_then(|id| Ok(Command::SetOutcome(id, crate::json::from_value("", value)?)))
        }
        Some("delete_entry") => entry_id().and_then(|id| Ok(Command::Delete(id, crate::json::from_value("", value)?))),
        Some(_) => Err(ApiError::invalid(
            "type",
            "unknown message type: use create_entry, share, withdraw, set_outcome or delete_entry",
        )),
        None => Err(ApiError::invalid("type", "missing")),
    };
    (request_id, command)
}

enum Flow {
    Continue,
    /// The hub woke the connection: the user has new changes.
    Wake,
    Stop,
}

/// Runs one authenticated connection until it closes, the session ends or the server stops.
pub async fn run(socket: WebSocket, state: AppState, auth: AuthUser, since: Option<i64>) {
    let user = auth.user.id.clone();
    let reg = state.hub.register(&user, &auth.token_hash);
    let (mut sink, mut stream) = socket.split();

    let Ok(head) = state.store.advance(&user).await else {
        close(&mut sink, 1011, "storage unavailable").await;
        return;
    };
    // A cursor ahead of the stream means the client kept state from elsewhere: start
    // over from the head and tell it to reload.
    let reset = since.is_some_and(|s| s > head);
    let mut cursor = match since {
        Some(s) if !reset => s,
        _ => head,
    };
    if send_json(
        &mut sink,
        &json!({ "type": "ready", "head": head, "since": cursor, "reset": reset }),
    )
    .await
    .is_err()
    {
        return;
    }

    // Pings keep middleboxes from closing idle sockets and find peers that vanished.
    let ping_every = Duration::from_secs(state.config.ws_ping_seconds.max(1));
    let per_second = std::num::NonZeroU32::new(state.config.ws_messages_per_second.max(1)).expect("non-zero");
    let burst = per_second.saturating_mul(std::num::NonZeroU32::new(4).expect("non-zero"));
    let limiter = governor::RateLimiter::direct(governor::Quota::per_second(per_second).allow_burst(burst));
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut last_heard = Instant::now();
    // The first round sends what the stream holds after the cursor (numbered just above);
    // later rounds run when the hub wakes the connection.
    let mut round = Some(true);
    loop {
        if let Some(numbered) = round.take() {
            if catch_up(&state, &user, &mut sink, &mut cursor, numbered).await.is_err() {
                return;
            }
        }

        let flow = tokio::select! {
            biased;
            _ = reg.ended() => {
                let (code, reason) = if state.hub.shutting_down() { (1001, "server shutting down") } else { (4001, "session ended") };
                close(&mut sink, code, reason).await;
                Flow::Stop
            }
            msg = stream.next() => {
                last_heard = Instant::now();
                match msg {
                    Some(Ok(Message::Text(text))) if limiter.check().is_err() => {
                        // Refused, not applied: the client retries later with the same request_id.
                        let request_id = parse_command(text.as_str()).0;
                        let err = ApiError::TooManyRequests { retry_after: 1 };
                        if send_json(&mut sink, &error_message(request_id.as_deref(), &err)).await.is_err() { Flow::Stop } else { Flow::Continue }
                    }
                    Some(Ok(Message::Text(text))) => handle_text(&state, &auth, &mut sink, text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => {
                        let err = ApiError::BadRequest("send JSON text messages".into());
                        if send_json(&mut sink, &error_message(None, &err)).await.is_err() { Flow::Stop } else { Flow::Continue }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
                    Some(Ok(Message::Close(_))) | None => Flow::Stop,
                    Some(Err(_)) => {
                        // Oversized frames end up here; say why before hanging up.
                        close(&mut sink, 1009, "message too big or malformed").await;
                        Flow::Stop
                    }
                }
            }
            _ = reg.woken() => Flow::Wake,
            _ = ping.tick() => {
                let session_ok = matches!(AuthUser::from_token_hash(&state, &auth.token_hash).await, Ok(Some(_)));
                if !session_ok {
                    close(&mut sink, 4001, "session ended").await;
                    Flow::Stop
                } else if last_heard.elapsed() > ping_every * 3 {
                    close(&mut sink, 1001, "no answer to pings").await;
                    Flow::Stop
                } else if send(&mut sink, Message::Ping(Default::default())).await.is_err() {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            }
        };
        match flow {
            Flow::Stop => break,
            Flow::Wake => round = Some(false),
            Flow::Continue => {}
        }
    }
}

/// Numbers the user's new changes (unless that was just done), then sends every position
/// after the cursor in order, in bounded batches, moving the cursor past each; `Err` when
/// the connection is done for (the socket failed, or storage did and it was closed).
async fn catch_up(state: &AppState, user: &str, sink: &mut Sink, cursor: &mut i64, numbered: bool) -> Result<(), ()> {
    if !numbered && state.store.advance(user).await.is_err() {
        close(sink, 1011, "storage unavailable").await;
        return Err(());
    }
    loop {
        let rendered = match state.store.stream_after(user, *cursor, BATCH).await {
            Ok(events) => render_events(state, user, &events).await.map(|r| (events, r)),
            Err(e) => Err(e),
        };
        let Ok((events, rendered)) = rendered else {
            close(sink, 1011, "storage unavailable").await;
            return Err(());
        };
        for (ev, msg) in events.iter().zip(&rendered) {
            send_json(sink, msg).await?;
            *cursor = ev.pos;
        }
        if (events.len() as i64) < BATCH {
            return Ok(());
        }
    }
}

async fn handle_text(state: &AppState, auth: &AuthUser, sink: &mut Sink, text: &str) -> Flow {
    let reply = if text.len() > MAX_MESSAGE {
        error_message(None, &ApiError::TooLarge(MAX_MESSAGE))
    } else {
        let (request_id, command) = parse_command(text);
        match command {
            Ok(cmd) => match commands::execute(&*state.store, &state.hub, &auth.user, cmd).await {
                Ok(ack) => ack_message(request_id.as_deref().unwrap_or_default(), &ack),
                Err(e) => error_message(request_id.as_deref(), &e),
            },
            Err(e) => error_message(request_id.as_deref(), &e),
        }
    };
    if send_json(sink, &reply).await.is_err() {
        Flow::Stop
    } else {
        Flow::Continue
    }
}
