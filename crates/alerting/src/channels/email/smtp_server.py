# Loopback SMTP server for strix-alerting's e-mail tests (aiosmtpd).
# usage: smtp_server.py OUT_JSONL MODE(plain|starttls|tls) CERT KEY LIFETIME_SECS
# Prints the listening port on stdout, records each message as one JSON line in OUT_JSONL,
# and exits by itself after LIFETIME_SECS.
import asyncio
import json
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

out, mode, cert, key, lifetime = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])


class Handler:
    async def handle_DATA(self, server, session, envelope):
        rec = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "authenticated": bool(session.authenticated),
            "auth_login": (session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None),
            "tls": bool(session.ssl) or server.transport.get_extra_info("ssl_object") is not None,
            "data": envelope.content.decode("utf-8", "replace"),
        }
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        return "250 2.0.0 Ok: queued as STRIXTEST"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"strix" and auth_data.password == b"hunter2"
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


async def main():
    ctx = None
    if mode in ("starttls", "tls"):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)

    def factory():
        return SMTP(
            Handler(),
            hostname="smtp.test",
            authenticator=authenticator,
            auth_require_tls=False,
            tls_context=ctx if mode == "starttls" else None,
            require_starttls=(mode == "starttls"),
        )

    loop = asyncio.get_running_loop()
    srv = await loop.create_server(factory, "127.0.0.1", 0, ssl=ctx if mode == "tls" else None)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(lifetime)
    srv.close()


asyncio.run(main())
