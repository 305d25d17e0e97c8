from mlscale.cli import app

app(prog_name="mlscale")
