from grucast.cli import app

app(prog_name="grucast")
