"""The server's TLS context (docs/deployment-tls.md): certificate chain and key, TLS 1.2
or newer, and client certificates checked against ``tls_client_ca`` (mutual TLS).

``tls_client_auth`` (``cmdb.server.api.auth.client_auth_mode``) decides what is asked:

* ``none``: no client certificate is asked for;
* ``optional`` and ``agents``: asked for, verified when presented, a connection without
  one is still taken; under ``agents`` the API then refuses agent and poller tokens that
  did not come with a verified certificate (``cmdb.server.api.auth``);
* ``required``: the handshake fails without a certificate signed by the CA.
"""

from __future__ import annotations

import ssl

from cmdb.server.config import Settings


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The context for the listening socket, or None without ``tls_cert`` (plain HTTP)."""
    from cmdb.server.api.auth import client_auth_mode

    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    mode = client_auth_mode(settings)
    if mode != "none":
        context.load_verify_locations(cafile=settings.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED if mode == "required" else ssl.CERT_OPTIONAL
    return context
