//! The bare relay: the floor of this stack (tokio + tungstenite over loopback).
//! Two sockets that open the same path /pair/N are paired; every text or binary frame
//! one sends goes to the other. No auth, no storage, no JSON parsing. It runs in its own
//! process (`bench __relay-server`) so its memory and CPU are measured like the server's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

type Slots = Arc<Mutex<[Option<mpsc::UnboundedSender<Message>>; 2]>>;

pub fn main(read_buffer: usize) {
    crate::sys::raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("LISTENING {}", listener.local_addr().unwrap().port());
        let pairs: Arc<Mutex<HashMap<String, Slots>>> = Default::default();
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let _ = sock.set_nodelay(true);
            let pairs = pairs.clone();
            tokio::spawn(async move {
                let mut path = String::new();
                // tungstenite's callback type, large error and all.
                #[allow(clippy::result_large_err)]
                let cb = |req: &Request, resp: Response| {
                    path = req.uri().path().to_string();
                    Ok(resp)
                };
                let config = WebSocketConfig::default()
                    .read_buffer_size(read_buffer)
                    .write_buffer_size(0);
                let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(sock, cb, Some(config)).await else {
                    return;
                };
                let slots = pairs.lock().unwrap().entry(path.clone()).or_default().clone();
                let (tx, mut rx) = mpsc::unbounded_channel();
                let side = {
                    let mut s = slots.lock().unwrap();
                    let side = if s[0].is_none() { 0 } else { 1 };
                    s[side] = Some(tx);
                    side
                };
                let (mut sink, mut stream) = ws.split();
                let writer = tokio::spawn(async move {
                    while let Some(m) = rx.recv().await {
                        if sink.send(m).await.is_err() {
                            break;
                        }
                    }
                });
                while let Some(Ok(msg)) = stream.next().await {
                    match msg {
                        Message::Text(_) | Message::Binary(_) => {
                            let peer = slots.lock().unwrap()[1 - side].clone();
                            if let Some(p) = peer {
                                let _ = p.send(msg);
                            }
                        }
                        Message::Close(_) => break,
                        _ => {}
                    }
                }
                let empty = {
                    let mut s = slots.lock().unwrap();
                    s[side] = None;
                    s[1 - side].is_none()
                };
                if empty {
                    pairs.lock().unwrap().remove(&path);
                }
                writer.abort();
            });
        }
    });
}
