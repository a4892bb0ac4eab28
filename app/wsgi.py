"""Entry point for gunicorn (``app.wsgi:server``) and ``flask --app app.wsgi``."""
from app.factory import create_app

dash_app = create_app()
server = dash_app.server
app = server
