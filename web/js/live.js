// The live connection: one websocket that reconnects by itself with backoff, resumes
// from the last event seq it saw, and carries writes. Every write has a request_id and
// waits in an outbox kept in localStorage until the server acknowledges it, so a write
// made offline (or lost with a dropped connection) is sent again and applied once.

import { ApiError } from "./api.js";
import { newId, storage } from "./dom.js";

const MIN_DELAY = 500;
const MAX_DELAY = 10000;

export class Live {
  /**
   * @param {string} userId whose stream this is (keys the stored seq and outbox)
   * @param {object} on callbacks: status(state), ready(msg, firstOrReset), event(msg),
   *   ack(msg), sessionEnded(), outbox(list)
   */
  constructor(userId, on) {
    this.userId = userId;
    this.on = on;
    this.ws = null;
    this.open = false;
    this.stopped = false;
    this.attempt = 0;
    this.timer = null;
    this.readyOnce = false;
    this.waiters = new Map();
    this.seqKey = `tandem:seq:${userId}`;
    this.outboxKey = `tandem:outbox:${userId}`;
    this.outbox = storage.get(this.outboxKey, []);
    this.seq = storage.get(this.seqKey, null);
    this.state = "connecting";
    this.onOnline = () => this.reconnectSoon(0);
    this.onVisible = () => {
      if (document.visibilityState === "visible" && !this.ws) this.reconnectSoon(0);
    };
    window.addEventListener("online", this.onOnline);
    document.addEventListener("visibilitychange", this.onVisible);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.on.status(state);
  }

  start() {
    this.on.status(this.state);
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener("online", this.onOnline);
    document.removeEventListener("visibilitychange", this.onVisible);
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
  }

  connect() {
    if (this.stopped || this.ws) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const since = Number.isInteger(this.seq) ? `?since=${this.seq}` : "";
    let ws;
    try {
      ws = new WebSocket(`${scheme}://${location.host}/api/ws${since}`);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = (e) => this.receive(e.data);
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.open = false;
      if (e.code === 4001) {
        this.stopped = true;
        this.setState("offline");
        this.on.sessionEnded();
        return;
      }
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      /* onclose follows and schedules the retry */
    };
  }

  scheduleReconnect() {
    if (this.stopped) return;
    this.setState(navigator.onLine === false || this.attempt > 1 ? "offline" : "reconnecting");
    const base = Math.min(MAX_DELAY, MIN_DELAY * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    this.reconnectSoon(delay);
  }

  reconnectSoon(delay) {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  receive(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    switch (msg.type) {
      case "ready": {
        this.open = true;
        this.attempt = 0;
        const fresh = !this.readyOnce || msg.reset;
        this.readyOnce = true;
        this.rememberSeq(msg.since);
        this.setState("live");
        Promise.resolve(this.on.ready(msg, fresh)).finally(() => this.flush());
        break;
      }
      case "event":
        this.on.event(msg);
        this.rememberSeq(msg.seq);
        break;
      case "ack":
        this.settle(msg.request_id, null, msg);
        this.on.ack(msg);
        break;
      case "error":
        if (msg.request_id) this.settle(msg.request_id, new ApiError(msg.status, msg.error || {}), null);
        break;
      default:
        break;
    }
  }

  rememberSeq(seq) {
    if (!Number.isInteger(seq)) return;
    this.seq = seq;
    storage.set(this.seqKey, seq);
  }

  settle(requestId, error, ack) {
    const before = this.outbox.length;
    this.outbox = this.outbox.filter((w) => w.request_id !== requestId);
    if (this.outbox.length !== before) this.saveOutbox();
    const waiter = this.waiters.get(requestId);
    if (!waiter) return;
    this.waiters.delete(requestId);
    if (error) waiter.reject(error);
    else waiter.resolve(ack);
  }

  saveOutbox() {
    storage.set(this.outboxKey, this.outbox);
    this.on.outbox(this.outbox);
  }

  /** Sends every waiting write again, oldest first (the server applies each once). */
  flush() {
    if (!this.open || !this.ws) return;
    for (const w of this.outbox) this.ws.send(JSON.stringify(w.message));
  }

  /**
   * Queues a write and sends it when connected. Returns { sent, done }: `sent` says
   * whether it went out at once; `done` resolves with the ack (or rejects with an
   * ApiError) whenever the server answers, possibly after a reconnect.
   */
  write(message, meta = {}) {
    const msg = { ...message, request_id: newId() };
    this.outbox.push({ request_id: msg.request_id, message: msg, meta, queued_at: new Date().toISOString() });
    this.saveOutbox();
    const done = new Promise((resolve, reject) => this.waiters.set(msg.request_id, { resolve, reject }));
    const sent = this.open && this.ws && this.ws.readyState === WebSocket.OPEN;
    if (sent) this.ws.send(JSON.stringify(msg));
    return { sent, done, requestId: msg.request_id };
  }

  /** Forgets a waiting write (the person chose to discard it). */
  discard(requestId) {
    this.settle(requestId, new ApiError(0, { code: "discarded", message: "Discarded." }), null);
  }
}
