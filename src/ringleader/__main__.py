from ringleader.cli.main import entry

entry()
