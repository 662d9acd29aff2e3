#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz_http_request: one file per connection.

    fuzz/http_request_seeds.py OUT_DIR

Each seed is the bytes a client sends on one connection, with the
placeholders http_request_fuzz.cc replaces (TOKEN, MEMBER_TOKEN, USER, MEMBER,
GUILD, CHANNEL, MESSAGE, ROLE, INVITE). A Content-Length (or WebSocket frame
length) is computed for the body as it is after the replacement: tokens are
59 characters, ids 19 digits, invite codes 8 characters.

The checked-in corpus fuzz/corpus/http_request/ is these seeds and what a run
found, minimized together with -merge=1 (fuzz/README.md).
"""
import os
import struct
import sys

LENGTHS = {"MEMBER_TOKEN": 59, "TOKEN": 59, "MEMBER": 19, "USER": 19, "GUILD": 19,
           "CHANNEL": 19, "MESSAGE": 19, "ROLE": 19, "INVITE": 8}
NAMES = sorted(LENGTHS, key=len, reverse=True)  # longest first, as the harness


def replaced_len(s: bytes) -> int:
    n, i = 0, 0
    while i < len(s):
        for name in NAMES:
            if s.startswith(name.encode(), i):
                n += LENGTHS[name]
                i += len(name)
                break
        else:
            n += 1
            i += 1
    return n


def req(method, target, body=None, token="TOKEN", headers=(), version="1.1"):
    out = f"{method} {target} HTTP/{version}\r\nHost: 127.0.0.1\r\n"
    if token:
        out += f"Authorization: {token}\r\n"
    for h in headers:
        out += h + "\r\n"
    data = b""
    if body is not None:
        data = body.encode()
        out += f"Content-Type: application/json\r\nContent-Length: {replaced_len(data)}\r\n"
    return out.encode() + b"\r\n" + data


def ws_frame(opcode, payload: bytes) -> bytes:
    """A client frame masked with key 0 (the payload stays as written, so
    placeholders in it are replaced)."""
    n = replaced_len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    else:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    return head + b"\0\0\0\0" + payload


A = "/api/v10"
CH = f"{A}/channels/CHANNEL"
G = f"{A}/guilds/GUILD"
UPGRADE = ("Upgrade: websocket", "Connection: Upgrade",
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13")
IDENTIFY = (b'{"op":2,"d":{"token":"TOKEN","intents":33281,'
            b'"properties":{"os":"linux","browser":"fuzz","device":"fuzz"}}}')

SEEDS = {
    # Unauthenticated, pipelined, the last one closing.
    "gateway_pipelined": req("GET", f"{A}/gateway", token=None) * 2 +
    req("GET", "/api/gateway", token=None, headers=("Connection: close",)),
    "users_me": req("GET", f"{A}/users/@me"),
    "users_me_encoded": req("GET", f"{A}/users/%40me/guilds"),
    "user_by_id": req("GET", f"{A}/users/MEMBER", token="Bearer TOKEN"),
    "patch_me": req("PATCH", f"{A}/users/@me", '{"global_name":"Fuzz","username":"fuzz_x"}'),
    "leave_guild": req("DELETE", f"{A}/users/@me/guilds/GUILD", token="MEMBER_TOKEN"),
    "register": req("POST", f"{A}/auth/register",
                    '{"username":"seed.user_1","password":"a long password"}', token=None),
    "login": req("POST", f"{A}/auth/login", '{"login":"fuzz_owner_1","password":"fuzz-password"}',
                 token=None),
    "logout": req("POST", f"{A}/auth/logout", "{}"),
    "create_message": req("POST", f"{CH}/messages",
                          '{"content":"hello <@USER> <@&ROLE> @everyone","nonce":"n1","tts":false}'),
    "reply_message": req("POST", f"{CH}/messages",
                         '{"content":"re","message_reference":{"message_id":"MESSAGE"},'
                         '"allowed_mentions":{"parse":[]}}'),
    "list_messages": req("GET", f"{CH}/messages?limit=50&before=MESSAGE") +
    req("GET", f"{CH}/messages?around=MESSAGE&limit=3"),
    "get_edit_delete_message": req("GET", f"{CH}/messages/MESSAGE") +
    req("PATCH", f"{CH}/messages/MESSAGE", '{"content":"edited","flags":4}') +
    req("DELETE", f"{CH}/messages/MESSAGE"),
    "bulk_delete": req("POST", f"{CH}/messages/bulk-delete", '{"messages":["MESSAGE","1"]}'),
    "typing": req("POST", f"{CH}/typing", token="MEMBER_TOKEN"),
    "channel": req("GET", CH) +
    req("PATCH", CH, '{"name":"renamed","topic":"t","nsfw":true,"rate_limit_per_user":5,'
        '"position":1}'),
    "channel_overwrite": req("PUT", f"{CH}/permissions/MEMBER",
                             '{"allow":"1024","deny":"2048","type":1}') +
    req("DELETE", f"{CH}/permissions/MEMBER"),
    "channel_delete": req("DELETE", CH),
    "create_invite": req("POST", f"{CH}/invites", '{"max_age":60,"max_uses":1,"temporary":false}') +
    req("GET", f"{CH}/invites"),
    "invite": req("GET", f"{A}/invites/INVITE?with_counts=true", token=None) +
    req("POST", f"{A}/invites/INVITE", token="MEMBER_TOKEN") +
    req("DELETE", f"{A}/invites/INVITE"),
    "create_guild": req("POST", f"{A}/guilds", '{"name":"seed guild"}'),
    "guild": req("GET", f"{G}?with_counts=true") +
    req("PATCH", G, '{"name":"renamed guild","description":"d","icon":null}'),
    "guild_delete": req("DELETE", G),
    "guild_channels": req("GET", f"{G}/channels") +
    req("POST", f"{G}/channels",
        '{"name":"second","type":0,"topic":"t","permission_overwrites":'
        '[{"id":"MEMBER","type":1,"allow":"0","deny":"2048"},{"id":"GUILD","type":0,'
        '"allow":"1024","deny":"0"}]}'),
    "members": req("GET", f"{G}/members?limit=10&after=0") +
    req("GET", f"{G}/members/search?query=fuzz&limit=5") + req("GET", f"{G}/members/MEMBER"),
    "member_edit": req("PATCH", f"{G}/members/MEMBER", '{"nick":"nick","roles":["ROLE"]}') +
    req("PUT", f"{G}/members/MEMBER/roles/ROLE") + req("DELETE", f"{G}/members/MEMBER/roles/ROLE"),
    "member_kick": req("DELETE", f"{G}/members/MEMBER"),
    "member_add": req("PUT", f"{G}/members/USER", '{"access_token":"x"}'),
    "roles": req("GET", f"{G}/roles") +
    req("POST", f"{G}/roles", '{"name":"r","permissions":"8","color":255,"hoist":true,'
        '"mentionable":true}'),
    "role_edit_delete": req("PATCH", f"{G}/roles/ROLE", '{"name":"r2","permissions":"1024"}') +
    req("DELETE", f"{G}/roles/ROLE"),
    "role_positions_as_member": req("POST", f"{G}/roles", '{"name":"nope"}',
                                    token="MEMBER_TOKEN"),
    "applications": req("POST", f"{A}/applications", '{"name":"seed app"}') +
    req("GET", f"{A}/applications") + req("GET", f"{A}/applications/detectable", token=None),
    "application_me": req("GET", f"{A}/oauth2/applications/@me", token="Bot TOKEN"),
    "gateway_bot": req("GET", f"{A}/gateway/bot"),
    "admin_status": req("GET", "/admin/status") +
    req("GET", "/admin/status", token=None, headers=("Accept: text/html",)),
    "static": req("GET", "/", token=None) +
    req("GET", "/app.js", token=None, headers=('If-None-Match: "x"',)) +
    req("HEAD", "/index.html", token=None) + req("GET", "/channels/@me/1", token=None),
    "operations": req("GET", "/metrics", token=None) + req("GET", "/health", token=None),
    "head_api": req("HEAD", f"{A}/gateway", token=None),
    "http10": req("GET", f"{A}/gateway", token=None, version="1.0") +
    req("GET", f"{A}/gateway", token=None, version="1.0"),
    "http10_keepalive": req("GET", f"{A}/gateway", token=None, version="1.0",
                            headers=("Connection: keep-alive",)) * 2,
    "absolute_target": b"GET http://127.0.0.1:8080/api/v10/channels/CHANNEL?x=1 HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\nAuthorization: TOKEN\r\n\r\n",
    "asterisk_target": b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "chunked_body": b"POST " + CH.encode() + b"/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Authorization: TOKEN\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\n{\"con\r\n10\r\ntent\":\"chunked\"}\r\n0\r\n\r\n",
    "te_with_length": b"POST /api/v10/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_gzip": b"POST /api/v10/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked"
    b"\r\n\r\n0\r\n\r\n",
    "te_not_last": b"POST /api/v10/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, "
    b"identity\r\n\r\n",
    "body_too_large": b"POST /api/v10/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000"
    b"\r\n\r\n{}",
    "large_body_budget": b"POST /api/v10/auth/login HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 20000\r\n\r\n" + b"{" + b" " * 19998 + b"}",
    "expect_continue": req("POST", f"{CH}/messages", '{"content":"x"}',
                           headers=("Expect: 100-continue",)),
    "malformed": b"GET /api/v10/gateway HTTP/1.1\r\nHost x\r\n\r\n",
    "partial": b"POST /api/v10/auth/register HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\"a",
    "bad_json": req("POST", f"{CH}/messages", '{"content":"x",}') +
    req("POST", f"{A}/guilds", '[1,2,3]') + req("POST", f"{A}/guilds", '{"name":"\\ud800"}'),
    "invalid_tokens": req("GET", f"{A}/users/@me", token="not-a-token") * 5,
    "rate_limited": req("POST", f"{CH}/messages", '{"content":"spam"}') * 6,
    "wrong_method": req("PUT", f"{A}/users/@me") + req("GET", f"{A}/v11/nothing"),
    "websocket_identify": req("GET", "/?v=10&encoding=json", token=None, headers=UPGRADE) +
    ws_frame(1, IDENTIFY) + ws_frame(1, b'{"op":1,"d":null}') + ws_frame(8, b"\x03\xe8"),
    "websocket_bad_version": req("GET", "/?v=10", token=None,
                                 headers=UPGRADE[:3] + ("Sec-WebSocket-Version: 8",)),
}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
