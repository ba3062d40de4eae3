"use strict";
/*
 * A minimal CyTube 3.86 channel over socket.io 2 (Engine.IO v3) for rosey's integration tests.
 *
 * EIO=3 as CyTube accepts it with allowEIO3: the CLIENT pings ("2") and the server pongs ("3");
 * the server connects the default namespace by itself ("40" unprompted).
 *
 * Usage: node server.js '{"channel":"labchan","accounts":{"labbot":["pw",3]},
 *                         "pingInterval":25000,"pingTimeout":120000,"motd":""}'
 * Prints "listening <port>" once it listens on 127.0.0.1, then one line
 * "recv {sid,user,event,data,ack}" per event a client sends (tests read them).
 *
 * Plays: GET /socketconfig/<chan>.json, "rank -1" on connect, joinChannel (burst ending in
 * userlist + usercount), guest and password login, chatMsg (escaped echo to the channel),
 * pm, and a kick ("kick" then "41", websocket left open) when a client chats "kick me".
 */

const http = require("http");
const socketio = require("socket.io");

const cfg = Object.assign(
    {
        channel: "labchan",
        accounts: {},
        pingInterval: 25000,
        pingTimeout: 120000,
        motd: "",
    },
    JSON.parse(process.argv[2] || "{}")
);

const CHANNEL_RE = /^[\w-]{1,30}$/;
const USER_RE = /^[\w-]{1,20}$/;
const ROOM = "channel";
const PERMISSIONS = {
    seeplaylist: -1, playlistadd: 1.5, playlistnext: 1.5, playlistmove: 1.5,
    playlistdelete: 2, playlistjump: 1.5, playlistaddlist: 1.5, oplaylistadd: -1,
    oplaylistnext: 1.5, oplaylistmove: 1.5, oplaylistdelete: 2, oplaylistjump: 1.5,
    oplaylistaddlist: 1.5, playlistaddcustom: 3, playlistaddrawfile: 2, playlistaddlive: 1.5,
    exceedmaxlength: 2, addnontemp: 2, settemp: 2, playlistshuffle: 2, playlistclear: 2,
    pollctl: 1.5, pollvote: -1, viewhiddenpoll: 1.5, voteskip: -1, viewvoteskip: 1.5,
    mute: 1.5, kick: 1.5, ban: 2, motdedit: 3, filteredit: 3, filterimport: 3, emoteedit: 3,
    emoteimport: 3, playlistlock: 2, leaderctl: 2, drink: 1.5, chat: 0, chatclear: 2,
    exceedmaxitems: 2, deletefromchannellib: 2, exceedmaxdurationperuser: 2,
};
const EMPTY_MD5 = "1B2M2Y8AsgTpgAmY7PhCfg==";

const users = []; // sockets in the channel, join order
const buffer = []; // last 15 chat lines

function options() {
    return {
        allow_voteskip: true, voteskip_ratio: 0.5, afk_timeout: 600, pagetitle: cfg.channel,
        maxlength: 0, externalcss: "", externaljs: "", chat_antiflood: false,
        chat_antiflood_params: { burst: 4, sustained: 1, cooldown: 4 }, show_public: false,
        enable_link_regex: true, password: false, allow_dupes: false, torbanned: false,
        block_anonymous_users: false, allow_ascii_control: false, playlist_max_per_user: 0,
        new_user_chat_delay: 0, new_user_chat_link_delay: 0, playlist_max_duration_per_user: 0,
    };
}

function escape(text) {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function pack(socket) {
    return {
        name: socket.user.name,
        rank: socket.user.rank,
        profile: { image: "", text: "" },
        meta: { afk: false, muted: false },
    };
}

function findAccount(name) {
    const lower = name.toLowerCase();
    for (const stored of Object.keys(cfg.accounts)) {
        if (stored.toLowerCase() === lower) {
            return { name: stored, pw: cfg.accounts[stored][0], rank: cfg.accounts[stored][1] };
        }
    }
    return null;
}

function findUser(name) {
    const lower = name.toLowerCase();
    return users.find((s) => s.user.name && s.user.name.toLowerCase() === lower);
}

function kick(socket, reason) {
    socket.emit("kick", { reason: reason });
    socket.disconnect(); // namespace disconnect only: "41", the engine.io socket stays open
}

function chatObject(name, msg) {
    return { username: name, msg: escape(msg), meta: {}, time: Date.now() };
}

const server = http.createServer((req, res) => {
    const m = /^\/socketconfig\/([^/]+)\.json$/.exec(req.url.split("?")[0]);
    if (!m) {
        res.writeHead(404);
        res.end();
        return;
    }
    const name = decodeURIComponent(m[1]);
    let body;
    if (CHANNEL_RE.test(name)) {
        res.writeHead(200, { "Content-Type": "application/json" });
        const url = "http://127.0.0.1:" + server.address().port;
        body = { servers: [{ url: url, secure: false }] };
    } else {
        res.writeHead(404, { "Content-Type": "application/json" });
        body = { error: 'Channel "' + name + '" does not exist.' };
    }
    res.end(JSON.stringify(body));
});

const io = socketio(server, {
    pingInterval: cfg.pingInterval,
    pingTimeout: cfg.pingTimeout,
    maxHttpBufferSize: 1048576,
    serveClient: false,
    cookie: false,
});

function burst(socket) {
    const u = socket.user;
    if (u.registered && u.rank !== 1) {
        socket.emit("rank", u.rank);
    }
    u.joined = true;
    socket.join(ROOM);
    if (u.name) {
        socket.to(ROOM).emit("addUser", pack(socket));
    }
    users.push(socket);
    socket.emit("setPermissions", PERMISSIONS);
    socket.emit("setPlaylistLocked", true);
    socket.emit("emoteList", []);
    buffer.forEach((msg) => socket.emit("chatMsg", msg));
    socket.emit("drinkCount", 0);
    socket.emit("channelCSSJS", { css: "", cssHash: EMPTY_MD5, js: "", jsHash: EMPTY_MD5 });
    socket.emit("setMotd", cfg.motd);
    socket.emit("channelOpts", options());
    socket.emit("setPlaylistMeta", { count: 0, rawTime: 0, time: "00:00" });
    socket.emit("playlist", []);
    socket.emit("userlist", users.filter((s) => s.user.name).map(pack));
    io.to(ROOM).emit("usercount", users.length);
}

function onJoin(socket, data) {
    if (typeof data !== "object" || data === null || typeof data.name !== "string") {
        return;
    }
    if (!CHANNEL_RE.test(data.name)) {
        socket.emit("errorMsg", {
            msg: "Invalid channel name.  Channel names may consist of 1-30 characters in the " +
                "set a-z, A-Z, 0-9, -, and _",
        });
        kick(socket, "Invalid channel name");
        return;
    }
    if (data.name.toLowerCase() !== cfg.channel.toLowerCase()) {
        const reason = "Channel could not be loaded: this peer only serves " + cfg.channel;
        socket.emit("errorMsg", { msg: reason, alert: true });
        kick(socket, reason);
        return;
    }
    burst(socket);
}

function loginFailed(socket, error) {
    socket.emit("login", { success: false, error: error });
}

function onLogin(socket, data) {
    const u = socket.user;
    if (typeof data !== "object") {
        socket.emit("errorMsg", { msg: "Invalid login frame" });
        return;
    }
    if (data === null || typeof data.name !== "string" || u.name) {
        return;
    }
    const name = data.name;
    const pw = typeof data.pw === "string" ? data.pw.substring(0, 100) : "";
    let rank;
    if (pw) {
        if (!USER_RE.test(name)) {
            return loginFailed(socket, 'Invalid username "' + name + '"');
        }
        const account = findAccount(name);
        if (!account) {
            return loginFailed(socket, "User does not exist");
        }
        if (account.pw !== pw) {
            return loginFailed(socket, "Invalid username/password combination");
        }
        u.name = account.name;
        u.registered = true;
        u.rank = 1;
        rank = Math.max(1, account.rank);
        socket.emit("rank", 1);
        socket.emit("login", { success: true, name: account.name });
    } else {
        if (!USER_RE.test(name)) {
            return loginFailed(socket,
                "Invalid username.  Usernames must be 1-20 characters long and consist only " +
                "of characters a-z, A-Z, 0-9, -, or _.");
        }
        if (findAccount(name)) {
            return loginFailed(socket, "That username is registered.");
        }
        if (u.joined && findUser(name)) {
            return loginFailed(socket, "That name is already in use on this channel.");
        }
        u.name = name;
        u.rank = 0;
        socket.emit("rank", 0);
        socket.emit("login", { success: true, name: name, guest: true });
    }
    if (!u.joined) {
        if (rank !== undefined) {
            u.rank = rank;
        }
        return;
    }
    users.filter((s) => s !== socket && s.user.name === u.name).forEach((s) => {
        kick(s, "Duplicate login");
    });
    io.to(ROOM).emit("addUser", pack(socket));
    if (rank !== undefined) {
        const crossed = (rank >= 2) !== (u.rank >= 2);
        u.rank = rank;
        socket.emit("rank", rank);
        if (crossed) {
            socket.emit("userlist", users.filter((s) => s.user.name).map(pack));
        }
        socket.emit("setPlaylistMeta", { count: 0, rawTime: 0, time: "00:00" });
        socket.emit("playlist", []);
        io.to(ROOM).emit("setUserRank", { name: u.name, rank: rank });
    }
}

function onChat(socket, data) {
    const u = socket.user;
    if (!u.joined || !u.name || typeof data !== "object" || data === null ||
            typeof data.msg !== "string") {
        return;
    }
    const text = data.msg.substring(0, 320);
    if (!text.trim()) {
        return;
    }
    if (text === "kick me") {
        kick(socket, "You asked for it");
        return;
    }
    const msg = chatObject(u.name, text);
    io.to(ROOM).emit("chatMsg", msg);
    buffer.push(msg);
    if (buffer.length > 15) {
        buffer.shift();
    }
}

function onPm(socket, data) {
    const u = socket.user;
    if (!u.joined || typeof data !== "object" || data === null ||
            typeof data.msg !== "string" || typeof data.to !== "string") {
        return;
    }
    if (!u.name) {
        socket.emit("errorMsg", { msg: "You must be signed in to send PMs" });
        return;
    }
    if (data.to.toLowerCase() === u.name.toLowerCase()) {
        socket.emit("errorMsg", { msg: "You can't PM yourself!" });
        return;
    }
    const to = findUser(data.to);
    if (!to) {
        socket.emit("errorMsg", {
            msg: "PM failed: " + data.to.toLowerCase() + " isn't connected to this channel.",
        });
        return;
    }
    const msg = Object.assign(chatObject(u.name, data.msg.substring(0, 320)), {
        to: to.user.name,
    });
    to.emit("pm", msg);
    socket.emit("pm", msg);
}

io.on("connection", (socket) => {
    socket.user = { name: null, rank: -1, registered: false, joined: false };
    socket.use((packet, next) => {
        const args = packet.slice(1);
        const ack = args.length > 0 && typeof args[args.length - 1] === "function";
        const plain = ack ? args.slice(0, -1) : args;
        const data = plain.length === 1 ? plain[0] : plain.length === 0 ? null : plain;
        const record = { sid: socket.id, user: socket.user.name, event: packet[0], data, ack };
        process.stdout.write("recv " + JSON.stringify(record) + "\n");
        next();
    });
    socket.once("joinChannel", (data) => onJoin(socket, data));
    socket.on("login", (data) => onLogin(socket, data));
    socket.on("chatMsg", (data) => onChat(socket, data));
    socket.on("pm", (data) => onPm(socket, data));
    socket.on("disconnect", () => {
        const i = users.indexOf(socket);
        if (i < 0) {
            return;
        }
        users.splice(i, 1);
        if (socket.user.name) {
            io.to(ROOM).emit("userLeave", { name: socket.user.name });
        }
        io.to(ROOM).emit("usercount", users.length);
    });
    socket.emit("rank", -1);
});

server.listen(0, "127.0.0.1", () => {
    process.stdout.write("listening " + server.address().port + "\n");
});

process.on("SIGTERM", () => {
    io.close();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
});
