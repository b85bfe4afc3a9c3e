"""WSGI entry point for production servers: ``careflow serve`` (granian), or any WSGI server given ``wsgi:app``."""

from web import create_app

app = create_app()
