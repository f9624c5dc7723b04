"""The web dashboard: static pages (package data under ``static/``) and the server-side
pieces a browser needs that a console does not: content-hashed assets (`assets`), the
cookie session layer (`session`), the browser request checks and security headers
(`guard`) and the multiplexed live stream's pure parts (`stream`).

Stdlib only, importing nothing else of Ringleader: the API server imports it when the first
``/ui/`` request arrives, never before. PROTOCOL.md is the contract between the pages and
the server.
"""
