from gtp_remote.cli import app

app()
