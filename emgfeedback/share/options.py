"""What the therapist chose for sharing the client view (no third-party imports)."""

from __future__ import annotations

from dataclasses import dataclass

from emgfeedback.share.pairing import CODE_TTL_S


@dataclass
class ShareOptions:
    """Options of ``live --share`` and of the window's Share button.

    Attributes
    ----------
    lan : bool
        Listen on the local network (default: this computer only, 127.0.0.1).
    port : int
        TCP port (0: a free one).
    allow_names : bool
        Show the subject id on the shared screens.
    tls_cert, tls_key : str or None
        PEM certificate and key for HTTPS/WSS.
    ttl_s : float
        Seconds a pairing code can pair a new screen.
    """

    lan: bool = False
    port: int = 0
    allow_names: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    ttl_s: float = CODE_TTL_S

    @property
    def encrypted(self) -> bool:
        return self.tls_cert is not None

    def server_kwargs(self) -> dict:
        """Keyword arguments of :class:`~emgfeedback.share.server.ShareServer`."""
        return {"lan": self.lan, "port": self.port, "allow_names": self.allow_names,
                "tls_cert": self.tls_cert, "tls_key": self.tls_key, "ttl_s": self.ttl_s}
