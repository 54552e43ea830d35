// Load client for the socket.io relay, same method as the Rust client: open-loop shares
// on a fixed schedule, latency from the intended send time, exact percentiles from
// every sample. Driven by examples/bench/main.rs over stdout lines.
//   node load.js load PORT COUPLES RATES(comma) STEP_SECONDS WARMUP_SECONDS
//   node load.js idle PORT START END      (holds sockets until stdin closes)
"use strict";
const { io } = require("socket.io-client");
const { performance } = require("perf_hooks");

const [mode, port] = [process.argv[2], Number(process.argv[3])];
const url = `http://127.0.0.1:${port}`;

function open(couple) {
  return new Promise((resolve) => {
    const s = io(url, { transports: ["websocket"], query: { couple }, reconnection: false, timeout: 60000 });
    s.once("connect", () => resolve(s));
    s.once("connect_error", () => resolve(null));
  });
}

async function openMany(from, to, batch) {
  const socks = [];
  for (let i = from; i < to; i += batch) {
    const part = [];
    for (let j = i; j < Math.min(to, i + batch); j++) part.push(open(Math.floor(j / 2)));
    socks.push(...(await Promise.all(part)));
  }
  return socks;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (a, q) => (a.length ? a[Math.min(a.length - 1, Math.floor(q * a.length))] : null);

async function load(couples, rates, stepSecs, warmSecs) {
  const socks = await openMany(0, 2 * couples, 500);
  const failed = socks.filter((s) => !s).length;
  console.log(`CONNECTED ${socks.length - failed} ${failed}`);
  let current = null;
  socks.forEach((s) => s && s.on("event", (m) => current && current(m)));
  let stepId = 0;
  for (const rate of rates) {
    stepId++;
    const id = stepId;
    const n = Math.round(rate * stepSecs);
    const interval = 1000 / rate;
    const warmK = Math.min(Math.floor(warmSecs * rate), Math.floor(n / 2));
    const delivered = new Uint8Array(n);
    let count = 0, dups = 0;
    const lat = [];
    const cpu0 = process.cpuUsage();
    console.log(`STEP_START ${rate}`);
    const t0 = performance.now() + 100;
    current = (m) => {
      if (m.s !== id) return;
      const k = m.k;
      if (delivered[k]) { dups++; return; }
      delivered[k] = 1; count++;
      if (k >= warmK) lat.push(performance.now() - (t0 + k * interval));
    };
    let k = 0;
    await new Promise((resolve) => {
      const tick = () => {
        const now = performance.now();
        while (k < n && t0 + k * interval <= now) {
          const c = k % couples;
          const w = Math.floor(k / couples) % 2 ? 2 * c + 1 : 2 * c;
          const s = socks[w];
          if (s) s.emit("share", { type: "share", s: id, k, request_id: `s${id}-${k}`, entry_id: "0190a5f0-0000-7000-8000-000000000000", scopes: ["partner"] });
          k++;
        }
        if (k < n) setTimeout(tick, Math.max(0, t0 + k * interval - performance.now()));
        else resolve();
      };
      tick();
    });
    const deadline = performance.now() + 10000;
    while (count < n && performance.now() < deadline) await sleep(5);
    current = null;
    const cpu = process.cpuUsage(cpu0);
    lat.sort((a, b) => a - b);
    console.log("STEP " + JSON.stringify({
      rate, n, delivered: count, dups,
      p50: pct(lat, 0.5), p90: pct(lat, 0.9), p99: pct(lat, 0.99), p999: pct(lat, 0.999), max: lat.length ? lat[lat.length - 1] : null,
      client_cpu: (cpu.user + cpu.system) / 1e6,
    }));
    if (count < n || (pct(lat, 0.99) || 0) > 1000) break;
  }
  console.log("DONE");
  socks.forEach((s) => s && s.close());
  process.exit(0);
}

async function idle(from, to) {
  const socks = await openMany(from, to, 500);
  const failed = socks.filter((s) => !s).length;
  console.log(`CONNECTED ${socks.length - failed} ${failed}`);
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
}

if (mode === "load") {
  load(Number(process.argv[4]), process.argv[5].split(",").map(Number), Number(process.argv[6]), Number(process.argv[7]));
} else if (mode === "idle") {
  idle(Number(process.argv[4]), Number(process.argv[5]));
} else {
  console.error("usage: see the header of load.js");
  process.exit(2);
}
