from grucast.cli.app import app

app(prog_name="grucast")
