// The socket.io relay "many teams would pick instead": rooms of two, every "share"
// forwarded to the other member, connection state recovery on (missed packets are
// replayed from memory after a reconnect within two minutes). No auth, no storage.
// Started by examples/bench/main.rs; prints "LISTENING <port>".
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const httpServer = http.createServer();
const io = new Server(httpServer, {
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true },
  perMessageDeflate: false,
  transports: ["websocket"],
  pingInterval: 20000,
});

io.on("connection", (socket) => {
  const room = "c" + socket.handshake.query.couple;
  if (!socket.recovered) socket.join(room);
  socket.on("share", (msg) => {
    socket.to(room).emit("event", msg);
  });
});

httpServer.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  console.log("LISTENING " + httpServer.address().port);
});
